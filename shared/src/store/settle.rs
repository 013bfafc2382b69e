//! Who keeps an email two Clerk users claim: the one write decided from another user's
//! record, conditioned on that record's version as read.

use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;

use super::item::{self, guard_pk};
use super::transaction::{self, CommitError, until_not_raced};
use super::{Holder, Settlement, StoreError, UniqueField, UserStore};

impl UserStore {
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
            match holder {
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
                    self.commit(&next, Some(&holder), None, false).await?;
                    tracing::warn!(
                        holder = %owner,
                        "email moved to a newer Clerk user; the holder's own update is late"
                    );
                }
                holder => {
                    self.clear_orphan_guard(guard_key, &owner, holder.map(|h| h.version))
                        .await?;
                }
            }
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
        let items = transaction::orphan_guard_clear(&self.table, guard_key, owner, version)?;
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
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
                _ => Err(CommitError::Store(transaction::unavailable(err))),
            },
        }
    }
}
