//! The users table in DynamoDB.
//!
//! # Key schema (one table, see `infra/users-table.json`)
//!
//! | item | `pk` | other keys | serves |
//! |---|---|---|---|
//! | user | `user#<clerk_user_id>` | `kind = "user"`, `created_at`, `id` | get by Clerk id: one consistent `GetItem` (the authorizer's read) |
//! | email guard | `email#<lowercased email>` | `owner` | uniqueness of `email`; get by email (guard, then user) |
//! | username guard | `username#<lowercased username>` | `owner` | uniqueness of `username` |
//! | delivery | `delivery#<svix-id>` | `expires_at` (TTL) | webhook audit and duplicate detection |
//!
//! | index | keys | serves |
//! |---|---|---|
//! | `by_id` | `id` | get by our UUID |
//! | `by_created` | `kind`, `created_at` | listing, newest first, one `Query` of `limit + 1` items per page |
//!
//! Guard items have neither `id` nor `kind`, so both indexes hold users only.
//!
//! # Writes
//! Every write is one `TransactWriteItems`: the user item, conditioned on the `version` it
//! was read at (or on not existing yet), plus the guard items it claims (conditioned on
//! being free or already its own) and releases. Uniqueness is therefore atomic; the read
//! that precedes a write only decides what to write, and a concurrent change makes the
//! transaction fail and the write start over from a fresh read. A write decided from
//! another user's record (freeing its email, going without an email it keeps, clearing a
//! guard it no longer backs) is conditioned in the same transaction on that user's
//! `version` as read: see [`UserStore::settle_email`].
//!
//! Clerk-driven writes carry Clerk's `updated_at` (ms): one that is not newer than the
//! stored stamp changes nothing ([`StoreError::Stale`]). A deleted user is a tombstone that
//! keeps only what ordering and audit need — ids, `created_at`, `deleted_at` (Clerk's
//! deletion time), the Clerk stamp, flags cleared (inactive, unapproved, not admin) — and no
//! personal data: email, names and image are removed, the username becomes the Clerk id,
//! guards are released. No Clerk write undoes it (Clerk never reuses user ids) or puts
//! profile data back; a newer event only advances its stamp, so any delivery order
//! converges on the same record.

mod cursor;
mod deliveries;
mod error;
mod item;
mod model;
mod plan;
mod reads;

use std::fmt;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValue, TransactWriteItem,
};
use time::OffsetDateTime;
use uuid::Uuid;

pub use cursor::Cursor;
pub use deliveries::Delivery;
pub use error::StoreError;
use item::{Item, Stored, format_time, guard_pk, n, s, user_pk};
pub use model::{
    Applied, ClerkProfile, FlagsPatch, Holder, ListQuery, NewUserFlags, Page, Refusal, Settlement,
    UniqueField, User, Written,
};

/// Name of the index that maps our UUID to a user.
pub const INDEX_BY_ID: &str = "by_id";
/// Name of the index that lists users by creation time.
pub const INDEX_BY_CREATED: &str = "by_created";
/// Attribute that the table's TTL deletes expired items by (delivery records).
pub const TTL_ATTRIBUTE: &str = "expires_at";
/// Largest page [`UserStore::list`] returns.
pub const MAX_PAGE_SIZE: u32 = 100;

/// DynamoDB's limit on a partition key value, in bytes (UTF-8).
pub const MAX_KEY_BYTES: usize = 2048;
/// DynamoDB's limit on an item, attribute names and values together, in bytes.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// Attempts at a write that keeps losing optimistic-concurrency races. Each lost race is
/// another write to the same item landing first, so ordinary contention (a few deliveries
/// and an admin about one user at once) stays far below it.
const MAX_ATTEMPTS: usize = 16;

/// The users table.
#[derive(Debug, Clone)]
pub struct UserStore {
    client: Client,
    table: String,
}

/// How a Clerk-driven write treats an existing record.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Upsert,
    /// Create only, with this id or a fresh one.
    CreateOnly(Option<Uuid>),
}

/// A transaction outcome the write loop decides on.
#[derive(Debug, PartialEq, Eq)]
enum CommitError {
    /// The user item changed since it was read: read again.
    Raced,
    Store(StoreError),
}

impl UserStore {
    /// A store over `table`, reached through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Stores a user from Clerk data: creates it with `flags`, or updates its profile when
    /// `profile.clerk_updated_at` is newer than the stored stamp ([`StoreError::Stale`]
    /// otherwise). A tombstone takes only the newer stamp: it stays deleted, holds no profile
    /// data and claims nothing, so the final record is the same in whatever order events
    /// arrive.
    pub async fn upsert_from_clerk(
        &self,
        profile: &ClerkProfile,
        flags: NewUserFlags,
    ) -> Result<Written, StoreError> {
        self.write_clerk(profile, flags, Mode::Upsert, None).await
    }

    /// [`UserStore::upsert_from_clerk`] for a profile stored without an email that `holder`
    /// keeps ([`Settlement::KeptBy`]): written only if `holder` is still at the version it
    /// was judged at, else [`StoreError::Conflict`] on `email`, to settle again.
    pub async fn upsert_from_clerk_beside(
        &self,
        profile: &ClerkProfile,
        flags: NewUserFlags,
        holder: &Holder,
    ) -> Result<Written, StoreError> {
        self.write_clerk(profile, flags, Mode::Upsert, Some(holder))
            .await
    }

    /// Creates a user; [`StoreError::Conflict`] on `clerk_user_id` when one exists.
    pub async fn create(
        &self,
        profile: &ClerkProfile,
        flags: NewUserFlags,
    ) -> Result<User, StoreError> {
        Ok(self
            .write_clerk(profile, flags, Mode::CreateOnly(None), None)
            .await?
            .user)
    }

    /// Creates a user with a chosen id of ours (the fixed development user).
    pub async fn create_with_id(
        &self,
        id: Uuid,
        profile: &ClerkProfile,
        flags: NewUserFlags,
    ) -> Result<User, StoreError> {
        Ok(self
            .write_clerk(profile, flags, Mode::CreateOnly(Some(id)), None)
            .await?
            .user)
    }

    /// Marks a user deleted in Clerk at `deleted_at_ms`: the record becomes a tombstone
    /// (see the module docs: no personal data, flags cleared, email and username freed). An
    /// unknown user gets a bare tombstone, so a late `user.created` cannot resurrect it.
    /// Deleting a tombstone again is [`StoreError::Stale`].
    pub async fn deactivate(
        &self,
        clerk_user_id: &str,
        deleted_at_ms: i64,
    ) -> Result<Written, StoreError> {
        let deleted_at = plan::from_millis(deleted_at_ms);
        self.write_decided(clerk_user_id, None, false, |current, now| {
            plan::deletion(current, clerk_user_id, deleted_at, now)
        })
        .await
    }

    /// Settles who keeps `email`, which an event of Clerk state `clerk_stamp` claims for
    /// `claimant`. Clerk keeps emails unique at every instant, so a holder whose stored
    /// state is older has since given the email up (its own update is late): it gives it up
    /// here too, in a write conditioned on the version it was judged at ([`Settlement::Freed`]).
    /// A holder as new or newer keeps it ([`Settlement::KeptBy`]): the claimant is stored
    /// without it, with [`UserStore::upsert_from_clerk_beside`]. A guard whose owner no
    /// longer holds the email (a read caught between two writes, or a lost write) is
    /// cleared, conditioned on that owner's version. Every decision is made from fresh reads
    /// and retried when raced.
    pub async fn settle_email(
        &self,
        claimant: &str,
        email: &str,
        clerk_stamp: i64,
    ) -> Result<Settlement, StoreError> {
        let guard_key = &guard_pk(UniqueField::Email, email);
        until_not_raced(|| async move {
            let Some(guard) = self.get_item(guard_key.clone()).await? else {
                return Ok(Settlement::Freed);
            };
            let owner = item::owner_of(&guard)?.to_owned();
            if owner == claimant {
                // Its own newer write took it meanwhile: nothing to settle.
                return Ok(Settlement::Freed);
            }
            let holder = self.load(&owner).await?;
            let holds = holder.as_ref().is_some_and(|h| {
                h.user.deleted_at.is_none()
                    && h.user
                        .email
                        .as_deref()
                        .is_some_and(|e| guard_pk(UniqueField::Email, e) == *guard_key)
            });
            let outcome = match holder {
                Some(holder) if holds && holder.user.clerk_updated_at >= clerk_stamp => {
                    return Ok(Settlement::KeptBy(Holder {
                        clerk_user_id: owner,
                        version: holder.version,
                    }));
                }
                Some(holder) if holds => {
                    let mut next = holder.user.clone();
                    next.email = None;
                    next.updated_at = item::now();
                    let outcome = self.commit(&next, Some(&holder), None, false).await;
                    if outcome.is_ok() {
                        tracing::warn!(
                            holder = %owner,
                            "email moved to a newer Clerk user; the holder's own update is late"
                        );
                    }
                    outcome
                }
                holder => {
                    self.clear_orphan_guard(guard_key, &owner, holder.map(|h| h.version))
                        .await
                }
            };
            outcome?;
            Ok(Settlement::Freed)
        })
        .await
    }

    /// Deletes the guard `guard_key` provided, at one instant, it still names `owner` and
    /// `owner` is still at `version` (`None`: still not stored), a state in which it does
    /// not hold the value.
    async fn clear_orphan_guard(
        &self,
        guard_key: &str,
        owner: &str,
        version: Option<u64>,
    ) -> Result<(), CommitError> {
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(item::key(user_pk(owner))));
        let check = match version {
            Some(version) => check
                .condition_expression("#version = :version")
                .expression_attribute_names("#version", item::VERSION)
                .expression_attribute_values(":version", n(version)),
            None => check.condition_expression("attribute_not_exists(pk)"),
        };
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(item::key(guard_key.to_owned())))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", item::OWNER)
            .expression_attribute_values(":owner", s(owner));
        let result = self
            .client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .condition_check(build(check.build())?)
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .delete(build(delete.build())?)
                    .build(),
            )
            .send()
            .await;
        match result {
            Ok(_) => {
                tracing::warn!(owner, "cleared an email guard its owner no longer holds");
                Ok(())
            }
            Err(err) => match err.as_service_error() {
                // Owner or guard changed since read: decide again from fresh reads.
                Some(TransactWriteItemsError::TransactionCanceledException(_)) => {
                    Err(CommitError::Raced)
                }
                _ => Err(CommitError::Store(unavailable(err))),
            },
        }
    }

    /// Changes an admin-managed flag; `updated_at` moves. [`StoreError::NotFound`] for an
    /// unknown user, [`StoreError::Deleted`] for a tombstone.
    pub async fn set_flags(
        &self,
        clerk_user_id: &str,
        patch: FlagsPatch,
    ) -> Result<User, StoreError> {
        let mut set = vec!["updated_at = :now".to_owned()];
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::key(user_pk(clerk_user_id))))
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(deleted_at)")
            .expression_attribute_values(":now", s(format_time(item::now())))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew);
        let flags = [
            ("is_active", patch.is_active),
            ("is_approved", patch.is_approved),
            ("is_admin", patch.is_admin),
        ];
        for (name, value) in flags {
            if let Some(value) = value {
                set.push(format!("{name} = :{name}"));
                update = update
                    .expression_attribute_values(format!(":{name}"), AttributeValue::Bool(value));
            }
        }
        let result = update
            .update_expression(format!("SET {} ADD version :one", set.join(", ")))
            .send()
            .await;
        match result {
            Ok(out) => {
                let item = out
                    .attributes()
                    .ok_or_else(|| StoreError::Corrupt("update returned no attributes".into()))?;
                Ok(item::item_to_stored(item)?.user)
            }
            Err(e)
                if matches!(
                    e.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                match self.load(clerk_user_id).await? {
                    None => Err(StoreError::NotFound),
                    Some(_) => Err(StoreError::Deleted),
                }
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn write_clerk(
        &self,
        profile: &ClerkProfile,
        flags: NewUserFlags,
        mode: Mode,
        beside: Option<&Holder>,
    ) -> Result<Written, StoreError> {
        let create_only = matches!(mode, Mode::CreateOnly(_));
        let id = match mode {
            Mode::CreateOnly(Some(id)) => id,
            _ => Uuid::new_v4(),
        };
        self.write_decided(
            &profile.clerk_user_id,
            beside,
            create_only,
            |current, now| plan::clerk_write(current, profile, flags, create_only, id, now),
        )
        .await
    }

    /// The one "read, decide, write; start over when raced" loop of every write that
    /// replaces a user record: `decide` gets the stored user (if any) and the time.
    async fn write_decided(
        &self,
        clerk_user_id: &str,
        beside: Option<&Holder>,
        create_only: bool,
        decide: impl Fn(Option<&User>, OffsetDateTime) -> Result<(User, Applied), StoreError>,
    ) -> Result<Written, StoreError> {
        let decide = &decide;
        until_not_raced(|| async move {
            let current = self.load(clerk_user_id).await?;
            let (next, applied) = decide(current.as_ref().map(|c| &c.user), item::now())?;
            self.commit(&next, current.as_ref(), beside, create_only)
                .await?;
            Ok(Written {
                user: next,
                applied,
            })
        })
        .await
    }

    /// Writes `next` in place of `current` (as read), claiming and releasing guards; with
    /// `beside`, only while that holder of the email `next` goes without is unchanged.
    async fn commit(
        &self,
        next: &User,
        current: Option<&Stored>,
        beside: Option<&Holder>,
        create_only: bool,
    ) -> Result<(), CommitError> {
        let user_item = item::user_to_item(next, current.map_or(1, |cur| cur.version + 1));
        check_limits(next, &user_item).map_err(CommitError::Store)?;
        let owner = next.clerk_user_id.as_str();
        let user_put = match current {
            Some(cur) => self
                .put(user_item)
                .condition_expression("#version = :version")
                .expression_attribute_names("#version", item::VERSION)
                .expression_attribute_values(":version", n(cur.version)),
            None => self
                .put(user_item)
                .condition_expression("attribute_not_exists(pk)"),
        };
        let mut items = vec![
            TransactWriteItem::builder()
                .put(build(user_put.build())?)
                .build(),
        ];
        // Which unique field each transaction item after the first guards.
        let mut fields = Vec::new();
        let live = next.deleted_at.is_none();
        let before = current.map(|c| &c.user).filter(|u| u.deleted_at.is_none());
        for field in [UniqueField::Email, UniqueField::Username] {
            let new_value = live.then(|| unique_value(next, field)).flatten();
            let old_value = before.and_then(|u| unique_value(u, field));
            if let Some(value) = new_value {
                // Re-put even when unchanged: it costs one write and heals a lost guard.
                let put = self
                    .put(item::guard_item(field, value, owner))
                    .condition_expression("attribute_not_exists(pk) OR #owner = :owner")
                    .expression_attribute_names("#owner", item::OWNER)
                    .expression_attribute_values(":owner", s(owner));
                items.push(
                    TransactWriteItem::builder()
                        .put(build(put.build())?)
                        .build(),
                );
                fields.push(field);
            }
            let released = old_value.filter(|old| {
                new_value.is_none_or(|new| guard_pk(field, new) != guard_pk(field, old))
            });
            if let Some(old) = released {
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(item::key(guard_pk(field, old))))
                    .condition_expression("attribute_not_exists(pk) OR #owner = :owner")
                    .expression_attribute_names("#owner", item::OWNER)
                    .expression_attribute_values(":owner", s(owner));
                items.push(
                    TransactWriteItem::builder()
                        .delete(build(delete.build())?)
                        .build(),
                );
                fields.push(field);
            }
        }
        if let Some(holder) = beside {
            let check = ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(item::key(user_pk(&holder.clerk_user_id))))
                .condition_expression("#version = :version")
                .expression_attribute_names("#version", item::VERSION)
                .expression_attribute_values(":version", n(holder.version));
            items.push(
                TransactWriteItem::builder()
                    .condition_check(build(check.build())?)
                    .build(),
            );
            // The holder changed: the decision to go without the email is outdated.
            fields.push(UniqueField::Email);
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let Err(err) = result else { return Ok(()) };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancel)) =
            err.as_service_error()
        else {
            if err.code() == Some("ValidationException") {
                let reason = err.message().unwrap_or("refused as invalid").to_owned();
                return Err(CommitError::Store(StoreError::Unstorable(reason)));
            }
            return Err(CommitError::Store(unavailable(err)));
        };
        let codes: Vec<Option<&str>> = cancel
            .cancellation_reasons()
            .iter()
            .map(|r| r.code())
            .collect();
        if let Some(meaning) = cancellation(&codes, &fields, create_only) {
            return Err(meaning);
        }
        Err(CommitError::Store(unavailable(err)))
    }

    fn put(&self, item: Item) -> aws_sdk_dynamodb::types::builders::PutBuilder {
        Put::builder().table_name(&self.table).set_item(Some(item))
    }
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

fn build<T>(result: Result<T, aws_sdk_dynamodb::error::BuildError>) -> Result<T, CommitError> {
    result.map_err(|e| CommitError::Store(StoreError::Corrupt(format!("request: {e}"))))
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
async fn until_not_raced<T, F: Future<Output = Result<T, CommitError>>>(
    mut attempt: impl FnMut() -> F,
) -> Result<T, StoreError> {
    for _ in 0..MAX_ATTEMPTS {
        match attempt().await {
            Ok(done) => return Ok(done),
            Err(CommitError::Raced) => {}
            Err(CommitError::Store(e)) => return Err(e),
        }
    }
    Err(contention())
}

impl From<StoreError> for CommitError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

fn contention() -> StoreError {
    StoreError::Unavailable("write kept racing concurrent writes; retry later".into())
}

fn unavailable<E, R>(err: aws_sdk_dynamodb::error::SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
{
    StoreError::Unavailable(DisplayErrorContext(&err).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: [UniqueField; 2] = [UniqueField::Email, UniqueField::Username];

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
