//! Storing a Clerk user, the one path shared by the webhook and the users API's lazy sync:
//! the same mapping, the same ordering guard, and conflicts resolved so that an event never
//! fails on them, however many deliveries, lazy syncs and admin edits run at once.
//!
//! - A taken username: the next of [`clerk::username_candidates`] (deterministic).
//! - A taken email ([`UserStore::settle_email`]): if the holder's stored Clerk state is
//!   older than this event, Clerk has since moved the email to this user, and the holder
//!   gives it up (its own update is late); otherwise this event is the outdated one and the
//!   user is stored without the email, provided the holder is still as judged, until a newer
//!   event brings the current one. Each settlement acts only on the state it was made from;
//!   when a concurrent write changes that state, the email is settled again from fresh reads.

use crate::clerk::{self, ClerkUser};
use crate::store::{NewUserFlags, Settlement, StoreError, UniqueField, UserStore, Written};

/// Settlements of one event's email before giving up. Each one follows a concurrent write
/// that claimed or kept the email since the last, so only a flood of writes about that one
/// address can use them up; then the error is transient (the delivery is retried later).
const MAX_EMAIL_SETTLEMENTS: usize = 32;

/// Upserts `user`, ordered by `stamp_ms` when Clerk's `updated_at` is missing.
pub async fn mirror_user(
    store: &UserStore,
    user: &ClerkUser,
    stamp_ms: i64,
    flags: NewUserFlags,
) -> Result<Written, StoreError> {
    let mut profile = user.to_profile(stamp_ms);
    let mut usernames =
        clerk::username_candidates(&profile.username, &profile.clerk_user_id).into_iter();
    usernames.next(); // the base, already in the profile
    let email = profile.email.clone();
    let mut kept_by = None;
    let mut settlements = 0;
    loop {
        let written = match &kept_by {
            None => store.upsert_from_clerk(&profile, flags).await,
            Some(holder) => {
                store
                    .upsert_from_clerk_beside(&profile, flags, holder)
                    .await
            }
        };
        match written {
            Err(StoreError::Conflict {
                field: UniqueField::Username,
            }) => match usernames.next() {
                Some(next) => profile.username = next,
                None => {
                    return Err(StoreError::Conflict {
                        field: UniqueField::Username,
                    });
                }
            },
            Err(StoreError::Conflict {
                field: UniqueField::Email,
            }) if settlements < MAX_EMAIL_SETTLEMENTS => {
                settlements += 1;
                // Only a profile with an email can conflict on one.
                let address = email.as_deref().unwrap_or_default();
                match store
                    .settle_email(&profile.clerk_user_id, address, profile.clerk_updated_at)
                    .await?
                {
                    Settlement::Freed => {
                        profile.email = email.clone();
                        kept_by = None;
                    }
                    Settlement::KeptBy(holder) => {
                        tracing::warn!(
                            clerk_user_id = %profile.clerk_user_id,
                            holder = %holder.clerk_user_id(),
                            "email held by a user with newer Clerk state; stored without it for now"
                        );
                        profile.email = None;
                        kept_by = Some(holder);
                    }
                }
            }
            Err(StoreError::Conflict {
                field: UniqueField::Email,
            }) => {
                return Err(StoreError::Unavailable(
                    "email kept changing hands while settling; retry later".into(),
                ));
            }
            other => return other,
        }
    }
}
