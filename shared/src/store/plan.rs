//! What a Clerk event does to a stored user, decided without I/O: the ordering rule (an
//! event not newer than the stored state changes nothing), creation, merging, and deletion
//! into a tombstone. `UserStore` reads, asks here, and writes what comes back.

use time::OffsetDateTime;
use uuid::Uuid;

use super::{Applied, ClerkProfile, NewUserFlags, StoreError, UniqueField, User};

/// The record `profile` leads to, from `current` as stored. `create_only` refuses an
/// existing user; `id` is the new user's when one is created.
pub(super) fn clerk_write(
    current: Option<&User>,
    profile: &ClerkProfile,
    flags: NewUserFlags,
    create_only: bool,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<(User, Applied), StoreError> {
    match current {
        Some(_) if create_only => Err(StoreError::Conflict {
            field: UniqueField::ClerkUserId,
        }),
        // The ordering rule: Clerk's `updated_at` must advance, or the event is late.
        Some(cur) if cur.clerk_updated_at >= profile.clerk_updated_at => Err(StoreError::Stale),
        // A tombstone takes the newer stamp (so every order ends on the same one) and nothing
        // else: no profile data comes back after a deletion. Scrubbed again: a tombstone
        // written before tombstones were scrubbed loses its personal data on the next event.
        Some(cur) if let Some(deleted_at) = cur.deleted_at => {
            let mut user = scrubbed(cur, deleted_at, now);
            user.clerk_updated_at = profile.clerk_updated_at;
            Ok((user, Applied::Updated))
        }
        Some(cur) => Ok((merge(cur, profile, now), Applied::Updated)),
        None => Ok((new_user(id, profile, flags, now), Applied::Created)),
    }
}

/// The tombstone a deletion at `deleted_at` leads to; deleting a tombstone again is
/// [`StoreError::Stale`].
pub(super) fn deletion(
    current: Option<&User>,
    clerk_user_id: &str,
    deleted_at: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(User, Applied), StoreError> {
    match current {
        Some(cur) if cur.deleted_at.is_some() => Err(StoreError::Stale),
        Some(cur) => Ok((scrubbed(cur, deleted_at, now), Applied::Updated)),
        None => Ok((tombstone(clerk_user_id, deleted_at, now), Applied::Created)),
    }
}

fn new_user(id: Uuid, profile: &ClerkProfile, flags: NewUserFlags, now: OffsetDateTime) -> User {
    User {
        id,
        clerk_user_id: profile.clerk_user_id.clone(),
        username: profile.username.clone(),
        email: profile.email.clone(),
        full_name: profile.full_name.clone(),
        first_name: profile.first_name.clone(),
        last_name: profile.last_name.clone(),
        image_url: profile.image_url.clone(),
        is_active: flags.is_active,
        is_approved: flags.is_approved,
        is_admin: profile.is_admin.unwrap_or(flags.is_admin),
        onboarded_via_invitation: flags.onboarded_via_invitation,
        created_at: now,
        updated_at: now,
        deleted_at: None,
        clerk_updated_at: profile.clerk_updated_at,
        banned: profile.banned,
        locked: profile.locked,
        locked_until: profile.locked_until,
    }
}

/// Clerk owns the profile fields; our flags stay unless Clerk decides `is_admin`.
fn merge(current: &User, profile: &ClerkProfile, now: OffsetDateTime) -> User {
    User {
        username: profile.username.clone(),
        email: profile.email.clone(),
        full_name: profile.full_name.clone(),
        first_name: profile.first_name.clone(),
        last_name: profile.last_name.clone(),
        image_url: profile.image_url.clone(),
        is_admin: profile.is_admin.unwrap_or(current.is_admin),
        updated_at: now,
        clerk_updated_at: profile.clerk_updated_at,
        banned: profile.banned,
        locked: profile.locked,
        locked_until: profile.locked_until,
        ..current.clone()
    }
}

/// The record of a user deleted before we ever stored it: what ordering and audit need
/// (ids, `deleted_at`, the Clerk stamp), flags cleared, no personal data. The username is the
/// Clerk id (not personal, and it holds no guard: a tombstone reserves nothing). Its stamp
/// is 0, so the stamp of any late create or update still advances it (and nothing else).
fn tombstone(clerk_user_id: &str, deleted_at: OffsetDateTime, now: OffsetDateTime) -> User {
    User {
        id: Uuid::new_v4(),
        clerk_user_id: clerk_user_id.to_owned(),
        username: clerk_user_id.to_owned(),
        email: None,
        full_name: None,
        first_name: None,
        last_name: None,
        image_url: None,
        is_active: false,
        is_approved: false,
        is_admin: false,
        onboarded_via_invitation: false,
        created_at: now,
        updated_at: now,
        deleted_at: Some(deleted_at),
        clerk_updated_at: 0,
        banned: false,
        locked: false,
        locked_until: None,
    }
}

/// `user` as a tombstone: its ids, `created_at` and Clerk stamp, nothing else of it.
fn scrubbed(user: &User, deleted_at: OffsetDateTime, now: OffsetDateTime) -> User {
    User {
        id: user.id,
        created_at: user.created_at,
        clerk_updated_at: user.clerk_updated_at,
        ..tombstone(&user.clerk_user_id, deleted_at, now)
    }
}

/// Clerk's millisecond timestamps, at the precision stored.
pub(super) fn from_millis(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;

    fn profile(stamp: i64) -> ClerkProfile {
        ClerkProfile {
            clerk_user_id: "user_1".into(),
            username: "ada".into(),
            email: Some("ada@example.com".into()),
            full_name: Some("Ada L".into()),
            first_name: Some("Ada".into()),
            last_name: Some("L".into()),
            image_url: None,
            is_admin: None,
            clerk_updated_at: stamp,
            banned: false,
            locked: false,
            locked_until: None,
        }
    }

    fn now() -> OffsetDateTime {
        from_millis(T0 + 5_000)
    }

    fn create(stamp: i64) -> User {
        let flags = NewUserFlags::default();
        clerk_write(None, &profile(stamp), flags, false, Uuid::nil(), now())
            .unwrap()
            .0
    }

    #[test]
    fn an_event_not_newer_than_the_stored_state_changes_nothing() {
        let stored = create(T0);
        for stamp in [T0 - 1, T0] {
            let result = clerk_write(
                Some(&stored),
                &profile(stamp),
                NewUserFlags::default(),
                false,
                Uuid::nil(),
                now(),
            );
            assert_eq!(result.unwrap_err(), StoreError::Stale, "stamp {stamp}");
        }
    }

    #[test]
    fn a_newer_event_merges_clerks_fields_and_keeps_ours() {
        let mut stored = create(T0);
        stored.is_approved = false;
        stored.is_admin = true;
        let mut newer = profile(T0 + 1);
        newer.last_name = Some("Lovelace".into());
        let (user, applied) = clerk_write(
            Some(&stored),
            &newer,
            NewUserFlags::default(),
            false,
            Uuid::new_v4(),
            now(),
        )
        .unwrap();
        assert_eq!(applied, Applied::Updated);
        assert_eq!(user.last_name.as_deref(), Some("Lovelace"));
        assert_eq!(
            (user.id, user.is_approved, user.is_admin),
            (stored.id, false, true)
        );
        assert_eq!(user.clerk_updated_at, T0 + 1);
        assert_eq!(user.created_at, stored.created_at);
    }

    #[test]
    fn a_new_user_takes_the_flags_and_clerks_admin_decision() {
        let flags = NewUserFlags {
            is_approved: false,
            ..NewUserFlags::default()
        };
        let mut admin = profile(T0);
        admin.is_admin = Some(true);
        let (user, applied) = clerk_write(None, &admin, flags, false, Uuid::nil(), now()).unwrap();
        assert_eq!(applied, Applied::Created);
        assert_eq!(user.id, Uuid::nil());
        assert_eq!(
            (user.is_active, user.is_approved, user.is_admin),
            (true, false, true)
        );
    }

    #[test]
    fn create_only_refuses_an_existing_user() {
        let stored = create(T0);
        let result = clerk_write(
            Some(&stored),
            &profile(T0 + 1),
            NewUserFlags::default(),
            true,
            Uuid::nil(),
            now(),
        );
        assert_eq!(
            result.unwrap_err(),
            StoreError::Conflict {
                field: UniqueField::ClerkUserId
            }
        );
    }

    #[test]
    fn deletion_leaves_a_tombstone_that_later_events_only_restamp() {
        let stored = create(T0);
        let deleted_at = from_millis(T0 + 2);
        let (tomb, applied) = deletion(Some(&stored), "user_1", deleted_at, now()).unwrap();
        assert_eq!(applied, Applied::Updated);
        assert_eq!((tomb.id, tomb.clerk_updated_at), (stored.id, T0));
        assert_eq!(tomb.deleted_at, Some(deleted_at));
        assert_eq!(
            (tomb.email.as_deref(), tomb.username.as_str()),
            (None, "user_1")
        );
        assert!(!tomb.is_active && !tomb.is_approved && !tomb.is_admin);
        assert_eq!(
            deletion(Some(&tomb), "user_1", deleted_at, now()).unwrap_err(),
            StoreError::Stale
        );
        // A late update advances the stamp and brings nothing back.
        let (after, _) = clerk_write(
            Some(&tomb),
            &profile(T0 + 3),
            NewUserFlags::default(),
            false,
            Uuid::nil(),
            now(),
        )
        .unwrap();
        assert_eq!(after.clerk_updated_at, T0 + 3);
        assert_eq!((after.email, after.deleted_at), (None, Some(deleted_at)));
    }

    #[test]
    fn deleting_an_unknown_user_leaves_a_bare_tombstone_any_event_outdates() {
        let (tomb, applied) = deletion(None, "user_9", from_millis(T0), now()).unwrap();
        assert_eq!(applied, Applied::Created);
        assert_eq!(
            (tomb.clerk_user_id.as_str(), tomb.clerk_updated_at),
            ("user_9", 0)
        );
    }
}
