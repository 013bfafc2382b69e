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
//! | ended session | `session#<sid>` | `owner`, `status`, `expires_at` (TTL) | the authorizer's `session-revoked`, read with the user in one `BatchGetItem` |
//! | reconciliation checkpoint | `reconcile#checkpoint` | lease, progress | resuming a cut-off run; one run at a time |
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

mod checkpoint;
mod cursor;
mod deliveries;
mod error;
mod item;
mod model;
mod plan;
mod reads;
mod sessions;
mod settle;
mod transaction;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use time::OffsetDateTime;
use uuid::Uuid;

pub use checkpoint::{Checkpoint, Halt, Progress};
pub use cursor::Cursor;
pub use deliveries::Delivery;
pub use error::StoreError;
use item::{Stored, format_time, n, s, user_pk};
pub use model::{
    Applied, ClerkProfile, FlagsPatch, Holder, ListQuery, NewUserFlags, Page, Refusal, Settlement,
    UniqueField, User, Written,
};
pub use sessions::{Recorded, UserSession};
use transaction::{CommitError, unavailable, unless_condition_failed, until_not_raced};

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

    /// Sets Clerk's access decision (`banned`, `locked`, `locked_until`) from `profile` on a
    /// live user stored at exactly `profile.clerk_updated_at`, and nothing else: for a ban or
    /// lockout Clerk made without a new `updated_at`. `Ok(false)` when the user is gone, a
    /// tombstone, or at another stamp (a newer write stands).
    pub async fn refresh_access(&self, profile: &ClerkProfile) -> Result<bool, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::key(user_pk(&profile.clerk_user_id))))
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(deleted_at) \
                 AND clerk_updated_at = :stamp",
            )
            .expression_attribute_values(":stamp", n(profile.clerk_updated_at))
            .expression_attribute_values(":banned", AttributeValue::Bool(profile.banned))
            .expression_attribute_values(":locked", AttributeValue::Bool(profile.locked))
            .expression_attribute_values(":now", s(format_time(item::now())))
            .expression_attribute_values(":one", n(1));
        // Written as a Put would write it: `locked_until` only while locked.
        let expression = match profile.locked_until.filter(|_| profile.locked) {
            Some(until) => {
                update = update.expression_attribute_values(":until", n(until));
                "SET banned = :banned, locked = :locked, locked_until = :until, \
                 updated_at = :now ADD version :one"
            }
            None => {
                "SET banned = :banned, locked = :locked, updated_at = :now \
                 REMOVE locked_until ADD version :one"
            }
        };
        let result = update.update_expression(expression).send().await;
        Ok(unless_condition_failed(result)?.is_some())
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
        match unless_condition_failed(result)? {
            Some(out) => {
                let item = out
                    .attributes()
                    .ok_or_else(|| StoreError::Corrupt("update returned no attributes".into()))?;
                Ok(item::item_to_stored(item)?.user)
            }
            None => match self.load(clerk_user_id).await? {
                None => Err(StoreError::NotFound),
                Some(_) => Err(StoreError::Deleted),
            },
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
        let write = transaction::user_write(&self.table, next, current, beside)?;
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(write.items))
            .send()
            .await;
        result
            .map(|_| ())
            .map_err(|err| transaction::failure(err, &write.fields, create_only))
    }
}
