//! Clerk's webhook events and users, and the mapping from a Clerk user to ours.
//!
//! Payload shapes follow Clerk's documentation: the envelope
//! `{type, object: "event", data, timestamp, instance_id}`; `timestamp` is seconds in some
//! documented examples and milliseconds in others, so both are accepted. `user.deleted`
//! carries only `{id, deleted: true}`.

use serde::Deserialize;
use serde_json::Value;

use crate::store::{ClerkProfile, NewUserFlags};

/// Timestamps below this are seconds, at or above it milliseconds (10^11 s is the year 5138).
const MS_THRESHOLD: i64 = 100_000_000_000;

/// Why a verified body is not a usable event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// Not JSON, or no `type` / `data`.
    #[error("not a Clerk webhook event")]
    NotAnEvent,
    /// A user event whose `data` lacks a usable `id` or has fields of the wrong type.
    #[error("user event data is malformed")]
    InvalidUser,
    /// A session event whose `data` lacks a usable `id`.
    #[error("session event data is malformed")]
    InvalidSession,
}

/// The webhook envelope.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    /// `user.created`, `user.updated`, `user.deleted`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The event's object (a user for user events).
    pub data: Value,
    /// When the event happened: seconds or milliseconds.
    #[serde(default)]
    pub timestamp: Option<i64>,
    /// The Clerk instance.
    #[serde(default)]
    pub instance_id: Option<String>,
}

/// The events this project handles.
#[derive(Debug, Clone, PartialEq)]
pub enum UserEvent {
    /// `user.created` or `user.updated`: the user as it is now.
    Upsert(Box<ClerkUser>),
    /// `user.deleted`.
    Deleted {
        /// The deleted user's id.
        id: String,
    },
    /// `session.revoked`, `session.ended` or `session.removed`: the session is over for good
    /// and its tokens must be refused (Clerk's session statuses: `revoked`, the application
    /// ended it, as a ban does; `ended`, the user signed out; `removed`, signed out and
    /// removed from the client).
    SessionEnded {
        /// `sess_…`.
        id: String,
        /// The session's user, when the event names one.
        user_id: Option<String>,
        /// The event type's last part: `revoked`, `ended` or `removed`.
        status: &'static str,
    },
}

impl UserEvent {
    /// The user the event is about, for logs and delivery records.
    pub fn clerk_user_id(&self) -> Option<&str> {
        match self {
            Self::Upsert(user) => Some(&user.id),
            Self::Deleted { id } => Some(id),
            Self::SessionEnded { user_id, .. } => user_id.as_deref(),
        }
    }
}

impl Event {
    /// Parses a verified body.
    pub fn parse(body: &[u8]) -> Result<Self, EventError> {
        let event: Self = serde_json::from_slice(body).map_err(|_| EventError::NotAnEvent)?;
        if event.kind.is_empty() || !event.data.is_object() {
            return Err(EventError::NotAnEvent);
        }
        Ok(event)
    }

    /// The event as a user event; `Ok(None)` for types we do not handle.
    pub fn user_event(&self) -> Result<Option<UserEvent>, EventError> {
        match self.kind.as_str() {
            "user.created" | "user.updated" => {
                let user: ClerkUser = serde_json::from_value(self.data.clone())
                    .map_err(|_| EventError::InvalidUser)?;
                if !is_user_id(&user.id) {
                    return Err(EventError::InvalidUser);
                }
                Ok(Some(UserEvent::Upsert(Box::new(user))))
            }
            "user.deleted" => {
                let id = self
                    .data
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if !is_user_id(id) {
                    return Err(EventError::InvalidUser);
                }
                Ok(Some(UserEvent::Deleted { id: id.to_owned() }))
            }
            kind @ ("session.revoked" | "session.ended" | "session.removed") => {
                let text = |field: &str| self.data.get(field).and_then(Value::as_str);
                let id = text("id").filter(|id| is_user_id(id) && id.starts_with("sess_"));
                let Some(id) = id else {
                    return Err(EventError::InvalidSession);
                };
                let status = match kind {
                    "session.revoked" => "revoked",
                    "session.ended" => "ended",
                    _ => "removed",
                };
                Ok(Some(UserEvent::SessionEnded {
                    id: id.to_owned(),
                    user_id: text("user_id").filter(|u| is_user_id(u)).map(str::to_owned),
                    status,
                }))
            }
            _ => Ok(None),
        }
    }

    /// The event time in milliseconds (`timestamp` in seconds or milliseconds).
    pub fn timestamp_ms(&self) -> Option<i64> {
        self.timestamp.map(to_millis)
    }
}

/// Seconds or milliseconds → milliseconds.
pub fn to_millis(timestamp: i64) -> i64 {
    if timestamp.abs() < MS_THRESHOLD {
        timestamp.saturating_mul(1000)
    } else {
        timestamp
    }
}

/// Whether `id` has the shape of a Clerk user id (what we accept as one in paths and events).
pub fn is_user_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// One of a Clerk user's email addresses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EmailAddress {
    /// `idn_…`.
    pub id: String,
    /// The address.
    pub email_address: String,
    /// How Clerk verified it; `null` for an address never verified.
    #[serde(default)]
    pub verification: Option<Verification>,
}

impl EmailAddress {
    /// True when Clerk reports the address verified.
    pub fn is_verified(&self) -> bool {
        self.verification
            .as_ref()
            .is_some_and(|v| v.status.as_deref() == Some("verified"))
    }
}

/// An identification's verification (`status`: `verified`, `unverified`, `transferable`,
/// `failed`, `expired`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Verification {
    /// The verification status.
    #[serde(default)]
    pub status: Option<String>,
}

/// The fields of Clerk's `User` object this project reads.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ClerkUser {
    /// `user_…`.
    pub id: String,
    /// Every address of the user.
    #[serde(default)]
    pub email_addresses: Vec<EmailAddress>,
    /// Which of them is primary.
    #[serde(default)]
    pub primary_email_address_id: Option<String>,
    /// Clerk username, if the instance uses them.
    #[serde(default)]
    pub username: Option<String>,
    /// Given name.
    #[serde(default)]
    pub first_name: Option<String>,
    /// Family name.
    #[serde(default)]
    pub last_name: Option<String>,
    /// Avatar.
    #[serde(default)]
    pub image_url: Option<String>,
    /// Public metadata; `role: "admin"` makes an admin (Clerk's documented RBAC pattern).
    #[serde(default)]
    pub public_metadata: Option<Value>,
    /// Last change, ms.
    #[serde(default)]
    pub updated_at: Option<i64>,
    /// Creation, ms.
    #[serde(default)]
    pub created_at: Option<i64>,
    /// Banned by an admin of the Clerk instance.
    #[serde(default)]
    pub banned: Option<bool>,
    /// Locked after too many failed sign-in attempts.
    #[serde(default)]
    pub locked: Option<bool>,
    /// Seconds until the lockout ends, as of when Clerk wrote the object; `null` when not
    /// locked, or locked until an admin unlocks.
    #[serde(default)]
    pub lockout_expires_in_seconds: Option<i64>,
}

impl ClerkUser {
    /// The email we store: the entry whose id is `primary_email_address_id`, and only when
    /// Clerk reports it verified. Never another entry: an unverified or secondary address is
    /// anyone's to type in, and a stored email can take the address from its holder.
    pub fn primary_email(&self) -> Option<&str> {
        let primary = self.primary_email_address_id.as_deref()?;
        self.email_addresses
            .iter()
            .find(|e| e.id == primary)
            .filter(|e| e.is_verified())
            .map(|e| e.email_address.as_str())
            .filter(|e| !e.is_empty())
    }

    /// Clerk's username, else the email's local part, else the Clerk id. Never contains `@`,
    /// which only [`fallback_username`] uses.
    pub fn base_username(&self) -> String {
        let clean = |s: &str| Some(s.trim().replace('@', "")).filter(|s| !s.is_empty());
        self.username
            .as_deref()
            .and_then(clean)
            .or_else(|| {
                self.primary_email()
                    .and_then(|e| e.split('@').next())
                    .and_then(clean)
            })
            .unwrap_or_else(|| self.id.clone())
    }

    /// `public_metadata.role` when it is a string.
    pub fn role(&self) -> Option<&str> {
        self.public_metadata.as_ref()?.get("role")?.as_str()
    }

    /// Our profile of this user; `stamp_ms` orders it (Clerk's `updated_at`, else the
    /// event's time) and is when Clerk wrote it, so a lockout's end is `stamp_ms` plus
    /// `lockout_expires_in_seconds`.
    pub fn to_profile(&self, stamp_ms: i64) -> ClerkProfile {
        let locked = self.locked.unwrap_or(false);
        let name = |s: &Option<String>| {
            s.as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        let first_name = name(&self.first_name);
        let last_name = name(&self.last_name);
        let full_name = match (&first_name, &last_name) {
            (Some(f), Some(l)) => Some(format!("{f} {l}")),
            (Some(one), None) | (None, Some(one)) => Some(one.clone()),
            (None, None) => None,
        };
        ClerkProfile {
            clerk_user_id: self.id.clone(),
            email: self.primary_email().map(str::to_owned),
            username: self.base_username(),
            first_name,
            last_name,
            full_name,
            image_url: name(&self.image_url),
            // A role in Clerk decides; without one, our own flag (set by an admin) stays.
            is_admin: self.role().map(|role| role == "admin"),
            // Clerk documents `updated_at` in milliseconds (only event timestamps vary).
            clerk_updated_at: self.updated_at.unwrap_or(stamp_ms),
            banned: self.banned.unwrap_or(false),
            locked,
            locked_until: self
                .lockout_expires_in_seconds
                .filter(|_| locked)
                .map(|seconds| stamp_ms.saturating_add(seconds.max(0).saturating_mul(1000))),
        }
    }
}

/// The flags of a user created from Clerk data.
pub fn new_user_flags(auto_approve: bool) -> NewUserFlags {
    NewUserFlags {
        is_active: true,
        is_approved: auto_approve,
        is_admin: false,
        onboarded_via_invitation: false,
    }
}

/// The username of last resort: `@` and the Clerk id. No other username contains `@` (see
/// [`ClerkUser::base_username`]) and Clerk never reuses an id, so nobody else can hold it:
/// a user's sync never fails because others took the names before it.
pub fn fallback_username(clerk_user_id: &str) -> String {
    format!("@{clerk_user_id}")
}

/// The usernames tried in turn when one is taken: the base, then suffixes derived from the
/// Clerk id (the same every time for the same user, so retries agree), then the id itself,
/// then [`fallback_username`], which cannot be taken.
pub fn username_candidates(base: &str, clerk_user_id: &str) -> Vec<String> {
    let tail: String = clerk_user_id
        .trim_start_matches("user_")
        .chars()
        .rev()
        .take(6)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<String>()
        .to_lowercase();
    let mut candidates: Vec<String> = Vec::new();
    let tails = [String::new(), tail, clerk_user_id.to_lowercase()];
    let all = tails
        .iter()
        .map(|t| {
            if t.is_empty() {
                base.to_owned()
            } else {
                format!("{base}-{t}")
            }
        })
        .chain([clerk_user_id.to_owned(), fallback_username(clerk_user_id)]);
    for candidate in all {
        if !candidates.contains(&candidate) {
            candidates.push(candidate);
        }
    }
    candidates
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn user(data: Value) -> ClerkUser {
        serde_json::from_value(data).unwrap()
    }

    fn address(id: &str, email: &str, status: Option<&str>) -> Value {
        json!({
            "id": id, "email_address": email,
            "verification": status.map(|s| json!({ "status": s, "strategy": "email_code" })),
        })
    }

    #[test]
    fn stored_email_is_the_verified_primary_only() {
        let with = |primary: Option<&str>, addresses: Vec<Value>| {
            user(json!({
                "id": "user_1", "primary_email_address_id": primary, "email_addresses": addresses,
            }))
        };
        let verified = address("idn_2", "primary@example.com", Some("verified"));
        let other = address("idn_1", "first@example.com", Some("verified"));
        assert_eq!(
            with(Some("idn_2"), vec![other.clone(), verified.clone()]).primary_email(),
            Some("primary@example.com")
        );
        for status in [
            None,
            Some("unverified"),
            Some("transferable"),
            Some("failed"),
            Some("expired"),
        ] {
            let primary = address("idn_2", "primary@example.com", status);
            assert_eq!(
                with(Some("idn_2"), vec![other.clone(), primary]).primary_email(),
                None,
                "{status:?}: neither the unverified primary nor another address"
            );
        }
        assert_eq!(
            with(Some("idn_gone"), vec![other.clone()]).primary_email(),
            None
        );
        assert_eq!(with(None, vec![other.clone()]).primary_email(), None);
        assert_eq!(with(Some("idn_1"), vec![]).primary_email(), None);
        let no_verification_object = user(json!({
            "id": "user_1", "primary_email_address_id": "idn_1",
            "email_addresses": [{ "id": "idn_1", "email_address": "a@example.com" }],
        }));
        assert_eq!(no_verification_object.primary_email(), None);
    }

    #[test]
    fn username_from_clerk_else_email_else_id() {
        let with_name = user(json!({ "id": "user_1", "username": "ann" }));
        assert_eq!(with_name.base_username(), "ann");
        let from_email = user(json!({
            "id": "user_1", "username": null, "primary_email_address_id": "idn_1",
            "email_addresses": [address("idn_1", "ann.lee@example.com", Some("verified"))],
        }));
        assert_eq!(from_email.base_username(), "ann.lee");
        let unverified = user(json!({
            "id": "user_1", "username": null, "primary_email_address_id": "idn_1",
            "email_addresses": [address("idn_1", "ann.lee@example.com", Some("unverified"))],
        }));
        assert_eq!(unverified.base_username(), "user_1");
        let bare = user(json!({ "id": "user_1", "username": "  " }));
        assert_eq!(bare.base_username(), "user_1");
        let at = user(json!({ "id": "user_1", "username": "@ann@" }));
        assert_eq!(at.base_username(), "ann");
    }

    #[test]
    fn candidates_are_deterministic_and_distinct() {
        let c = username_candidates("ann", "user_29w83sxmDNGwOuEthce5gg56FcC");
        assert_eq!(
            c,
            [
                "ann",
                "ann-g56fcc",
                "ann-user_29w83sxmdngwouethce5gg56fcc",
                "user_29w83sxmDNGwOuEthce5gg56FcC",
                "@user_29w83sxmDNGwOuEthce5gg56FcC"
            ]
        );
        assert_eq!(
            c,
            username_candidates("ann", "user_29w83sxmDNGwOuEthce5gg56FcC")
        );
        assert_eq!(
            username_candidates("user_1", "user_1"),
            ["user_1", "user_1-1", "user_1-user_1", "@user_1"]
        );
    }

    #[test]
    fn profile_mapping() {
        let u = user(json!({
            "id": "user_1", "username": null, "first_name": " Ann ", "last_name": null,
            "image_url": "https://img/x", "updated_at": 1_654_012_591_835_i64,
            "public_metadata": { "role": "admin" },
            "email_addresses": [address("idn_1", "ann@example.com", Some("verified"))],
            "primary_email_address_id": "idn_1",
        }));
        let p = u.to_profile(7);
        assert_eq!(p.email.as_deref(), Some("ann@example.com"));
        assert_eq!(p.username, "ann");
        assert_eq!(p.first_name.as_deref(), Some("Ann"));
        assert_eq!(p.full_name.as_deref(), Some("Ann"));
        assert_eq!(p.is_admin, Some(true));
        assert_eq!(p.clerk_updated_at, 1_654_012_591_835);
        let plain = user(json!({ "id": "user_2", "public_metadata": { "role": "member" } }));
        assert_eq!(plain.to_profile(7).is_admin, Some(false));
        let no_role = user(json!({ "id": "user_3", "public_metadata": {} }));
        assert_eq!(no_role.to_profile(7).is_admin, None);
        assert_eq!(
            no_role.to_profile(7).clerk_updated_at,
            7,
            "falls back to the event time"
        );
    }

    #[test]
    fn bans_and_lockouts_are_mirrored() {
        let plain = user(json!({ "id": "user_1" })).to_profile(7);
        assert_eq!(
            (plain.banned, plain.locked, plain.locked_until),
            (false, false, None)
        );
        let banned = user(json!({ "id": "user_1", "banned": true, "locked": false }));
        assert!(banned.to_profile(7).banned);
        let locked = user(json!({
            "id": "user_1", "locked": true, "lockout_expires_in_seconds": 900,
        }));
        let p = locked.to_profile(1_000_000);
        assert_eq!((p.locked, p.locked_until), (true, Some(1_900_000)));
        let until_unlocked = user(json!({
            "id": "user_1", "locked": true, "lockout_expires_in_seconds": null,
        }));
        assert_eq!(until_unlocked.to_profile(7).locked_until, None);
        // A stale countdown on an unlocked user means nothing.
        let unlocked = user(json!({
            "id": "user_1", "locked": false, "lockout_expires_in_seconds": 900,
        }));
        assert_eq!(unlocked.to_profile(7).locked_until, None);
    }

    #[test]
    fn timestamps_in_seconds_or_milliseconds() {
        assert_eq!(to_millis(1_716_883_200), 1_716_883_200_000);
        assert_eq!(to_millis(1_654_012_591_835), 1_654_012_591_835);
    }

    #[test]
    fn events_that_are_not_usable() {
        assert_eq!(Event::parse(b"nope").unwrap_err(), EventError::NotAnEvent);
        assert_eq!(
            Event::parse(br#"{"type":"user.created"}"#).unwrap_err(),
            EventError::NotAnEvent
        );
        assert_eq!(
            Event::parse(br#"{"type":"","data":{}}"#).unwrap_err(),
            EventError::NotAnEvent
        );
        let bad_id = Event::parse(br#"{"type":"user.created","data":{"id":"user 1"}}"#).unwrap();
        assert_eq!(bad_id.user_event().unwrap_err(), EventError::InvalidUser);
        let wrong_type =
            Event::parse(br#"{"type":"user.updated","data":{"id":"user_1","username":5}}"#)
                .unwrap();
        assert_eq!(
            wrong_type.user_event().unwrap_err(),
            EventError::InvalidUser
        );
        let no_id = Event::parse(br#"{"type":"user.deleted","data":{"deleted":true}}"#).unwrap();
        assert_eq!(no_id.user_event().unwrap_err(), EventError::InvalidUser);
        let other = Event::parse(br#"{"type":"session.created","data":{"id":"sess_1"}}"#).unwrap();
        assert_eq!(other.user_event(), Ok(None));
        for body in [
            &br#"{"type":"session.revoked","data":{"user_id":"user_1"}}"#[..],
            br#"{"type":"session.ended","data":{"id":"user_1"}}"#,
            br#"{"type":"session.removed","data":{"id":"sess_../x"}}"#,
        ] {
            let event = Event::parse(body).unwrap();
            assert_eq!(event.user_event(), Err(EventError::InvalidSession));
        }
    }

    #[test]
    fn session_events_that_end_a_session() {
        // Clerk's `SessionRevokedEventPayloadExample` (webhooks/2025-04-15.yml), trimmed.
        let body = br#"{"object":"event","type":"session.revoked","timestamp":1716883200,
            "data":{"object":"session","id":"sess_2g7np7Hrk0SN6kj5EDMLDaKNL0S",
            "user_id":"user_2g7np7Hrk0SN6kj5EDMLDaKNL0S","client_id":"client_2g7np7Hrk0SN6kj5EDMLDaKNL0S",
            "status":"revoked","expire_at":1716969600000,"updated_at":1716883200000}}"#;
        let event = Event::parse(body).unwrap();
        let ended = event.user_event().unwrap().unwrap();
        assert_eq!(
            ended,
            UserEvent::SessionEnded {
                id: "sess_2g7np7Hrk0SN6kj5EDMLDaKNL0S".into(),
                user_id: Some("user_2g7np7Hrk0SN6kj5EDMLDaKNL0S".into()),
                status: "revoked",
            }
        );
        assert_eq!(
            ended.clerk_user_id(),
            Some("user_2g7np7Hrk0SN6kj5EDMLDaKNL0S")
        );
        for (kind, status) in [("session.ended", "ended"), ("session.removed", "removed")] {
            let body = format!(r#"{{"type":"{kind}","data":{{"id":"sess_1"}}}}"#);
            let event = Event::parse(body.as_bytes()).unwrap();
            assert_eq!(
                event.user_event(),
                Ok(Some(UserEvent::SessionEnded {
                    id: "sess_1".into(),
                    user_id: None,
                    status
                }))
            );
        }
    }
}
