//! What the store reads and writes: users, Clerk's profile of one, flags, pages, and the
//! outcomes of writes.

use std::fmt;

use time::OffsetDateTime;
use uuid::Uuid;

use super::Cursor;

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct User {
    /// Our id.
    pub id: Uuid,
    /// Clerk's user id (`user_…`), unique.
    pub clerk_user_id: String,
    /// Unique, case-insensitively.
    pub username: String,
    /// Primary email; unique, case-insensitively. Clerk users may have none.
    pub email: Option<String>,
    /// First and last name joined.
    pub full_name: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Avatar URL from Clerk.
    pub image_url: Option<String>,
    /// False once deactivated or deleted; inactive users are denied.
    pub is_active: bool,
    /// Unapproved users are denied until an admin approves them.
    pub is_approved: bool,
    /// May use the admin routes.
    pub is_admin: bool,
    /// Joined through an invitation.
    pub onboarded_via_invitation: bool,
    /// When we first stored the user.
    pub created_at: OffsetDateTime,
    /// When we last changed the record.
    pub updated_at: OffsetDateTime,
    /// When Clerk deleted the user (tombstone).
    pub deleted_at: Option<OffsetDateTime>,
    /// Clerk's `updated_at` (ms) of the last Clerk write applied: the ordering stamp.
    pub clerk_updated_at: i64,
    /// Banned in Clerk (Clerk's `banned`): denied until Clerk lifts the ban.
    pub banned: bool,
    /// Locked in Clerk after too many failed sign-ins (Clerk's `locked`).
    pub locked: bool,
    /// When Clerk's lockout ends (Unix ms, from `lockout_expires_in_seconds`); `None` while
    /// locked: until Clerk says otherwise.
    pub locked_until: Option<i64>,
}

impl User {
    /// Why this user may not be let in at `now_ms` (Unix ms), or `None`: the one rule the
    /// authorizer and the users API apply. Clerk's decisions (deleted, banned, locked) come
    /// before ours (inactive, unapproved).
    pub fn refusal(&self, now_ms: i64) -> Option<Refusal> {
        if self.deleted_at.is_some() {
            Some(Refusal::Deleted)
        } else if self.banned {
            Some(Refusal::Banned)
        } else if self.is_locked(now_ms) {
            Some(Refusal::Locked)
        } else if !self.is_active {
            Some(Refusal::Inactive)
        } else if !self.is_approved {
            Some(Refusal::Unapproved)
        } else {
            None
        }
    }

    /// Whether Clerk's lockout holds at `now_ms`: a lockout with an end lifts itself then,
    /// as Clerk's does, without waiting for an event.
    pub fn is_locked(&self, now_ms: i64) -> bool {
        self.locked && self.locked_until.is_none_or(|until| now_ms < until)
    }
}

/// Why a stored user may not be let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Deleted in Clerk: the record is a tombstone.
    Deleted,
    /// Banned in Clerk.
    Banned,
    /// Locked in Clerk (too many failed sign-in attempts), until the lockout ends.
    Locked,
    /// Deactivated by an admin.
    Inactive,
    /// Not approved (yet).
    Unapproved,
}

impl Refusal {
    /// The stable reason code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Deleted => "user-deleted",
            Self::Banned => "user-banned",
            Self::Locked => "user-locked",
            Self::Inactive => "user-inactive",
            Self::Unapproved => "user-unapproved",
        }
    }
}

/// A user's profile as Clerk sends it, already mapped to our fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClerkProfile {
    /// Clerk's user id.
    pub clerk_user_id: String,
    /// Primary email.
    pub email: Option<String>,
    /// Username (from Clerk or derived).
    pub username: String,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Display name.
    pub full_name: Option<String>,
    /// Avatar URL.
    pub image_url: Option<String>,
    /// `Some`: Clerk decides `is_admin` on this write; `None`: keep the stored flag.
    pub is_admin: Option<bool>,
    /// Clerk's `updated_at`, in ms: the ordering stamp.
    pub clerk_updated_at: i64,
    /// Clerk's `banned`.
    pub banned: bool,
    /// Clerk's `locked`.
    pub locked: bool,
    /// When the lockout ends (Unix ms), when Clerk says.
    pub locked_until: Option<i64>,
}

/// Flags a user gets when first stored (later Clerk writes keep the stored flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewUserFlags {
    /// `is_active` on creation.
    pub is_active: bool,
    /// `is_approved` on creation (`AUTO_APPROVE_USERS`).
    pub is_approved: bool,
    /// `is_admin` on creation, unless the profile decides it.
    pub is_admin: bool,
    /// `onboarded_via_invitation`.
    pub onboarded_via_invitation: bool,
}

impl Default for NewUserFlags {
    /// Open sign-up: active, approved, not admin (`AUTO_APPROVE_USERS=false` changes approval).
    fn default() -> Self {
        Self {
            is_active: true,
            is_approved: true,
            is_admin: false,
            onboarded_via_invitation: false,
        }
    }
}

/// An admin's change to a user's flags; `None` leaves a flag as it is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlagsPatch {
    /// New `is_active`.
    pub is_active: Option<bool>,
    /// New `is_approved`.
    pub is_approved: Option<bool>,
    /// New `is_admin`.
    pub is_admin: Option<bool>,
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// A new record.
    Created,
    /// An existing record changed.
    Updated,
}

/// A successful write: the record as now stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// The stored user.
    pub user: User,
    /// Created or updated.
    pub applied: Applied,
}

/// Who keeps an email another user's event claims ([`UserStore::settle_email`](super::UserStore::settle_email)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// Nobody holds it now: claim it.
    Freed,
    /// A user whose stored Clerk state is as new or newer holds it: go without it, beside
    /// this holder ([`UserStore::upsert_from_clerk_beside`](super::UserStore::upsert_from_clerk_beside)).
    KeptBy(Holder),
}

/// A user who keeps an email, at the version the decision was made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub(super) clerk_user_id: String,
    pub(super) version: u64,
}

impl Holder {
    /// The holder's Clerk id.
    pub fn clerk_user_id(&self) -> &str {
        &self.clerk_user_id
    }
}

/// A field that must be unique across users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UniqueField {
    /// `clerk_user_id`.
    ClerkUserId,
    /// `email`, case-insensitive.
    Email,
    /// `username`, case-insensitive.
    Username,
}

impl UniqueField {
    /// The attribute's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClerkUserId => "clerk_user_id",
            Self::Email => "email",
            Self::Username => "username",
        }
    }
}

impl fmt::Display for UniqueField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One page of users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Newest first.
    pub users: Vec<User>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

/// A listing request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Page size, clamped to 1..=[`MAX_PAGE_SIZE`](super::MAX_PAGE_SIZE).
    pub limit: u32,
    /// From a previous [`Page::next`].
    pub cursor: Option<Cursor>,
    /// Only active (`Some(true)`) or inactive (`Some(false)`) users.
    pub active: Option<bool>,
}
