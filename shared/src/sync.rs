//! Storing a Clerk user, the one path shared by the webhook and the users API's lazy sync:
//! the same mapping, the same ordering guard, and conflicts resolved so that an event never
//! fails on them.
//!
//! - A taken username: the next of [`clerk::username_candidates`] (deterministic).
//! - A taken email: if the holder's stored Clerk state is older than this event, Clerk has
//!   since moved the email to this user, and the holder gives it up (its own update is late);
//!   otherwise this event is the outdated one and the user is stored without the email until
//!   a newer event brings the current one.

use crate::clerk::{self, ClerkUser};
use crate::store::{NewUserFlags, StoreError, UniqueField, UserStore, Written};

/// Upserts `user`, ordered by `stamp_ms` when Clerk's `updated_at` is missing.
pub async fn sync_user(
    store: &UserStore,
    user: &ClerkUser,
    stamp_ms: i64,
    flags: NewUserFlags,
) -> Result<Written, StoreError> {
    let mut profile = user.to_profile(stamp_ms);
    let mut usernames =
        clerk::username_candidates(&profile.username, &profile.clerk_user_id).into_iter();
    usernames.next(); // the base, already in the profile
    let mut email_settled = false;
    loop {
        match store.upsert_from_clerk(&profile, flags).await {
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
            }) if !email_settled => {
                email_settled = true;
                let email = profile.email.clone().unwrap_or_default();
                if !store
                    .release_email_if_older(&email, profile.clerk_updated_at)
                    .await?
                {
                    tracing::warn!(
                        clerk_user_id = %profile.clerk_user_id,
                        "email held by a user with newer Clerk state; stored without it for now"
                    );
                    profile.email = None;
                }
            }
            other => return other,
        }
    }
}
