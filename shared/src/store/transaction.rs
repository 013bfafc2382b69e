//! One write transaction: which guards a user write claims and releases, the items it
//! sends, and what its failure means. Everything here is decided without I/O; `mod.rs`
//! sends what it assembles.

use std::fmt;

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{ConditionCheck, Delete, Put, TransactWriteItem};

use super::item::{self, Item, Stored, guard_pk, n, s, user_pk};
use super::{Holder, MAX_ITEM_BYTES, MAX_KEY_BYTES, StoreError, UniqueField, User};

/// Attempts at a write that keeps losing optimistic-concurrency races. Each lost race is
/// another write to the same item landing first, so ordinary contention (a few deliveries
/// and an admin about one user at once) stays far below it.
const MAX_ATTEMPTS: usize = 16;

/// The condition on a guard a user write claims or releases: free, or already its own.
const FREE_OR_OWN: &str = "attribute_not_exists(pk) OR #owner = :owner";

/// A transaction outcome the write loop decides on.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum CommitError {
    /// The user item changed since it was read: read again.
    Raced,
    Store(StoreError),
}

impl From<StoreError> for CommitError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

/// A guard item a user write touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum GuardChange<'a> {
    /// Put the guard of this value, owned by the user (again, when it already is: that
    /// costs one write and heals a lost guard).
    Claim(UniqueField, &'a str),
    /// Delete the guard of this value, if the user still owns it.
    Release(UniqueField, &'a str),
}

/// The guards that writing `next` over `before` (as stored, if at all) claims and releases.
/// A tombstone claims nothing and a tombstone's values are not held, so nothing of it is
/// released; a value that only changes case keeps its guard.
pub(super) fn guard_changes<'a>(next: &'a User, before: Option<&'a User>) -> Vec<GuardChange<'a>> {
    let live = next.deleted_at.is_none();
    let before = before.filter(|u| u.deleted_at.is_none());
    let mut changes = Vec::new();
    for field in [UniqueField::Email, UniqueField::Username] {
        let new_value = live.then(|| unique_value(next, field)).flatten();
        let old_value = before.and_then(|u| unique_value(u, field));
        if let Some(value) = new_value {
            changes.push(GuardChange::Claim(field, value));
        }
        let released = old_value
            .filter(|old| new_value.is_none_or(|new| guard_pk(field, new) != guard_pk(field, old)));
        if let Some(old) = released {
            changes.push(GuardChange::Release(field, old));
        }
    }
    changes
}

/// The items of one user write, and which unique field each item after the first guards
/// (to name a conflict from a cancellation).
pub(super) struct UserWrite {
    pub(super) items: Vec<TransactWriteItem>,
    pub(super) fields: Vec<UniqueField>,
}

/// The transaction that writes `next` in place of `current` (as read, conditioned on its
/// version, or on no record existing), with its guard changes; with `beside`, only while
/// that holder of the email `next` goes without is still at the version it was judged at.
pub(super) fn user_write(
    table: &str,
    next: &User,
    current: Option<&Stored>,
    beside: Option<&Holder>,
) -> Result<UserWrite, StoreError> {
    let user_item = item::user_to_item(next, current.map_or(1, |cur| cur.version + 1));
    check_limits(next, &user_item)?;
    let owner = next.clerk_user_id.as_str();
    let user_put = Put::builder().table_name(table).set_item(Some(user_item));
    let user_put = match current {
        Some(cur) => user_put
            .condition_expression("#version = :version")
            .expression_attribute_names("#version", item::VERSION)
            .expression_attribute_values(":version", n(cur.version)),
        None => user_put.condition_expression("attribute_not_exists(pk)"),
    };
    let mut write = UserWrite {
        items: vec![
            TransactWriteItem::builder()
                .put(build(user_put.build())?)
                .build(),
        ],
        fields: Vec::new(),
    };
    let owner_value = s(owner);
    for change in guard_changes(next, current.map(|c| &c.user)) {
        let (field, entry) = match change {
            GuardChange::Claim(field, value) => {
                let put = Put::builder()
                    .table_name(table)
                    .set_item(Some(item::guard_item(field, value, owner)))
                    .condition_expression(FREE_OR_OWN)
                    .expression_attribute_names("#owner", item::OWNER)
                    .expression_attribute_values(":owner", owner_value.clone());
                (field, TransactWriteItem::builder().put(build(put.build())?))
            }
            GuardChange::Release(field, value) => {
                let delete = Delete::builder()
                    .table_name(table)
                    .set_key(Some(item::key(guard_pk(field, value))))
                    .condition_expression(FREE_OR_OWN)
                    .expression_attribute_names("#owner", item::OWNER)
                    .expression_attribute_values(":owner", owner_value.clone());
                (
                    field,
                    TransactWriteItem::builder().delete(build(delete.build())?),
                )
            }
        };
        write.items.push(entry.build());
        write.fields.push(field);
    }
    if let Some(holder) = beside {
        let check = version_check(table, &holder.clerk_user_id, Some(holder.version));
        write.items.push(
            TransactWriteItem::builder()
                .condition_check(build(check.build())?)
                .build(),
        );
        // The holder changed: the decision to go without the email is outdated.
        write.fields.push(UniqueField::Email);
    }
    Ok(write)
}

/// The transaction that deletes the guard `guard_key` provided, at one instant, it still
/// names `owner` and `owner` is still at `version` (`None`: still not stored).
pub(super) fn orphan_guard_clear(
    table: &str,
    guard_key: &str,
    owner: &str,
    version: Option<u64>,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let check = version_check(table, owner, version);
    let delete = Delete::builder()
        .table_name(table)
        .set_key(Some(item::key(guard_key.to_owned())))
        .condition_expression("#owner = :owner")
        .expression_attribute_names("#owner", item::OWNER)
        .expression_attribute_values(":owner", s(owner));
    Ok(vec![
        TransactWriteItem::builder()
            .condition_check(build(check.build())?)
            .build(),
        TransactWriteItem::builder()
            .delete(build(delete.build())?)
            .build(),
    ])
}

/// A check that the user `clerk_user_id` is at `version` (`None`: not stored).
fn version_check(
    table: &str,
    clerk_user_id: &str,
    version: Option<u64>,
) -> aws_sdk_dynamodb::types::builders::ConditionCheckBuilder {
    let check = ConditionCheck::builder()
        .table_name(table)
        .set_key(Some(item::key(user_pk(clerk_user_id))));
    match version {
        Some(version) => check
            .condition_expression("#version = :version")
            .expression_attribute_names("#version", item::VERSION)
            .expression_attribute_values(":version", n(version)),
        None => check.condition_expression("attribute_not_exists(pk)"),
    }
}

/// What a failed user write means: raced, a conflict on a field, an item DynamoDB refuses,
/// or the table unavailable.
pub(super) fn failure<R>(
    err: SdkError<TransactWriteItemsError, R>,
    fields: &[UniqueField],
    create_only: bool,
) -> CommitError
where
    R: fmt::Debug + Send + Sync + 'static,
{
    let Some(TransactWriteItemsError::TransactionCanceledException(cancel)) =
        err.as_service_error()
    else {
        if err.code() == Some("ValidationException") {
            let reason = err.message().unwrap_or("refused as invalid").to_owned();
            return CommitError::Store(StoreError::Unstorable(reason));
        }
        return CommitError::Store(unavailable(err));
    };
    let codes: Vec<Option<&str>> = cancel
        .cancellation_reasons()
        .iter()
        .map(|r| r.code())
        .collect();
    cancellation(&codes, fields, create_only)
        .unwrap_or_else(|| CommitError::Store(unavailable(err)))
}

/// What a cancelled write transaction means, from its per-item reason codes: item 0 is the
/// user, then one item per entry of `fields` (the unique field it guards). `None` when no
/// reason names a cause.
fn cancellation(
    codes: &[Option<&str>],
    fields: &[UniqueField],
    create_only: bool,
) -> Option<CommitError> {
    let failed = |i: usize| codes.get(i).copied().flatten() == Some("ConditionalCheckFailed");
    if failed(0) {
        // The user item is not as read: someone wrote it first (or it exists, for a create).
        return Some(if create_only {
            CommitError::Store(StoreError::Conflict {
                field: UniqueField::ClerkUserId,
            })
        } else {
            CommitError::Raced
        });
    }
    if let Some(field) = fields
        .iter()
        .enumerate()
        .find_map(|(i, f)| failed(i + 1).then_some(*f))
    {
        return Some(CommitError::Store(StoreError::Conflict { field }));
    }
    if codes.contains(&Some("ValidationError")) {
        return Some(CommitError::Store(StoreError::Unstorable(
            "DynamoDB refused an item as invalid".into(),
        )));
    }
    // TransactionConflict: another transaction touched the same items at the same time.
    codes
        .contains(&Some("TransactionConflict"))
        .then_some(CommitError::Raced)
}

/// Runs `attempt` until it is not raced by a concurrent write, at most [`MAX_ATTEMPTS`]
/// times: the one retry loop of every write decided from a read.
pub(super) async fn until_not_raced<T, F: Future<Output = Result<T, CommitError>>>(
    mut attempt: impl FnMut() -> F,
) -> Result<T, StoreError> {
    for _ in 0..MAX_ATTEMPTS {
        match attempt().await {
            Ok(done) => return Ok(done),
            Err(CommitError::Raced) => {}
            Err(CommitError::Store(e)) => return Err(e),
        }
    }
    Err(StoreError::Unavailable(
        "write kept racing concurrent writes; retry later".into(),
    ))
}

/// DynamoDB's size limits, checked before writing: a write it would refuse is permanent.
fn check_limits(user: &User, user_item: &Item) -> Result<(), StoreError> {
    let keys = [
        ("clerk_user_id", Some(user_pk(&user.clerk_user_id))),
        (
            "email",
            user.email
                .as_deref()
                .map(|e| guard_pk(UniqueField::Email, e)),
        ),
        (
            "username",
            Some(guard_pk(UniqueField::Username, &user.username)),
        ),
    ];
    for (field, key) in keys {
        if key.is_some_and(|k| k.len() > MAX_KEY_BYTES) {
            return Err(StoreError::Unstorable(format!(
                "{field} makes a key longer than {MAX_KEY_BYTES} bytes"
            )));
        }
    }
    let size = item::size(user_item);
    if size > MAX_ITEM_BYTES {
        return Err(StoreError::Unstorable(format!(
            "the user item would be {size} bytes, over {MAX_ITEM_BYTES}"
        )));
    }
    Ok(())
}

fn unique_value(user: &User, field: UniqueField) -> Option<&str> {
    match field {
        UniqueField::Email => user.email.as_deref(),
        UniqueField::Username => Some(&user.username),
        UniqueField::ClerkUserId => Some(&user.clerk_user_id),
    }
}

fn build<T>(result: Result<T, aws_sdk_dynamodb::error::BuildError>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Corrupt(format!("request: {e}")))
}

/// A conditional write's output, or `None` when its condition failed: not an error, the
/// caller says what the unmet condition means.
pub(super) fn unless_condition_failed<O, E, R>(
    result: Result<O, SdkError<E, R>>,
) -> Result<Option<O>, StoreError>
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(output) => Ok(Some(output)),
        Err(err) if err.code() == Some("ConditionalCheckFailedException") => Ok(None),
        Err(err) => Err(unavailable(err)),
    }
}

/// The error of a call the table did not answer as expected: the table is unavailable.
pub(super) fn unavailable<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    StoreError::Unavailable(DisplayErrorContext(&err).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use GuardChange::{Claim, Release};

    const FIELDS: [UniqueField; 2] = [UniqueField::Email, UniqueField::Username];

    fn user(email: Option<&str>, username: &str) -> User {
        let now = time::OffsetDateTime::UNIX_EPOCH;
        User {
            id: uuid::Uuid::nil(),
            clerk_user_id: "user_a".into(),
            email: email.map(Into::into),
            username: username.into(),
            first_name: None,
            last_name: None,
            full_name: None,
            image_url: None,
            is_active: true,
            is_approved: true,
            is_admin: false,
            onboarded_via_invitation: false,
            clerk_updated_at: 1,
            created_at: now,
            updated_at: now,
            deleted_at: None,
            banned: false,
            locked: false,
            locked_until: None,
        }
    }

    fn tombstone(of: User) -> User {
        User {
            deleted_at: Some(time::OffsetDateTime::UNIX_EPOCH),
            ..of
        }
    }

    #[test]
    fn a_new_user_claims_its_email_and_username() {
        let next = user(Some("a@example.com"), "ann");
        assert_eq!(
            guard_changes(&next, None),
            [
                Claim(UniqueField::Email, "a@example.com"),
                Claim(UniqueField::Username, "ann")
            ]
        );
        let without_email = user(None, "ann");
        assert_eq!(
            guard_changes(&without_email, None),
            [Claim(UniqueField::Username, "ann")]
        );
    }

    #[test]
    fn a_changed_value_is_claimed_and_the_old_one_released() {
        let before = user(Some("a@example.com"), "ann");
        let next = user(Some("b@example.com"), "ann");
        assert_eq!(
            guard_changes(&next, Some(&before)),
            [
                Claim(UniqueField::Email, "b@example.com"),
                Release(UniqueField::Email, "a@example.com"),
                Claim(UniqueField::Username, "ann")
            ]
        );
        let dropped = user(None, "ann");
        assert_eq!(
            guard_changes(&dropped, Some(&before)),
            [
                Release(UniqueField::Email, "a@example.com"),
                Claim(UniqueField::Username, "ann")
            ]
        );
    }

    #[test]
    fn a_change_of_case_keeps_the_guard() {
        let before = user(Some("ann@example.com"), "ann");
        let next = user(Some("Ann@Example.com"), "ANN");
        assert_eq!(
            guard_changes(&next, Some(&before)),
            [
                Claim(UniqueField::Email, "Ann@Example.com"),
                Claim(UniqueField::Username, "ANN")
            ]
        );
    }

    #[test]
    fn a_tombstone_releases_everything_and_claims_nothing() {
        let before = user(Some("a@example.com"), "ann");
        let next = tombstone(user(None, "user_a"));
        assert_eq!(
            guard_changes(&next, Some(&before)),
            [
                Release(UniqueField::Email, "a@example.com"),
                Release(UniqueField::Username, "ann")
            ]
        );
        // A tombstone holds nothing, so writing over one releases nothing.
        let again = tombstone(user(None, "user_a"));
        assert_eq!(guard_changes(&again, Some(&next)), []);
    }

    #[test]
    fn limits_are_checked_before_writing() {
        let long = "a".repeat(MAX_KEY_BYTES);
        let next = user(Some(&format!("{long}@example.com")), "ann");
        assert_eq!(
            user_write("t", &next, None, None).err(),
            Some(StoreError::Unstorable(format!(
                "email makes a key longer than {MAX_KEY_BYTES} bytes"
            )))
        );
        let next = User {
            full_name: Some("x".repeat(MAX_ITEM_BYTES)),
            ..user(None, "ann")
        };
        assert!(matches!(
            user_write("t", &next, None, None).err(),
            Some(StoreError::Unstorable(reason)) if reason.starts_with("the user item would be ")
        ));
    }

    #[test]
    fn a_write_guards_each_field_it_touches_in_item_order() {
        let before = user(Some("a@example.com"), "ann");
        let next = user(Some("b@example.com"), "ann");
        let current = Stored {
            user: before,
            version: 3,
        };
        let holder = Holder {
            clerk_user_id: "user_h".into(),
            version: 7,
        };
        let write = user_write("t", &next, Some(&current), Some(&holder)).unwrap();
        assert_eq!(write.items.len(), 1 + write.fields.len());
        assert_eq!(
            write.fields,
            [
                UniqueField::Email,
                UniqueField::Email,
                UniqueField::Username,
                UniqueField::Email
            ]
        );
        let user_put = write.items[0].put().unwrap();
        assert_eq!(user_put.condition_expression(), Some("#version = :version"));
        assert_eq!(
            user_put.item()["version"],
            aws_sdk_dynamodb::types::AttributeValue::N("4".into())
        );
        let check = write.items[4].condition_check().unwrap();
        assert_eq!(
            check.expression_attribute_values().unwrap()[":version"],
            aws_sdk_dynamodb::types::AttributeValue::N("7".into())
        );
    }

    #[test]
    fn a_cancelled_transaction_names_its_cause() {
        let failed = Some("ConditionalCheckFailed");
        let none = Some("None");
        assert_eq!(
            cancellation(&[failed, none], &FIELDS, false),
            Some(CommitError::Raced)
        );
        assert_eq!(
            cancellation(&[failed], &FIELDS, true),
            Some(CommitError::Store(StoreError::Conflict {
                field: UniqueField::ClerkUserId
            }))
        );
        assert_eq!(
            cancellation(&[none, none, failed], &FIELDS, false),
            Some(CommitError::Store(StoreError::Conflict {
                field: UniqueField::Username
            }))
        );
        assert!(matches!(
            cancellation(&[none, Some("ValidationError")], &FIELDS, false),
            Some(CommitError::Store(StoreError::Unstorable(_)))
        ));
        assert_eq!(
            cancellation(&[Some("TransactionConflict"), none], &FIELDS, false),
            Some(CommitError::Raced)
        );
        assert_eq!(
            cancellation(&[none, Some("ThrottlingError")], &FIELDS, false),
            None
        );
    }
}
