//! The JSON representation of a user: the field names `docs/users-api.md` lists.

use serde_json::{Value, json};
use shared::User;
use time::format_description::well_known::Rfc3339;

/// A user as the API shows it.
pub fn user(user: &User) -> Value {
    let time = |t: time::OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
    json!({
        "id": user.id.to_string(),
        "clerk_user_id": user.clerk_user_id,
        "username": user.username,
        "email": user.email,
        "full_name": user.full_name,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "image_url": user.image_url,
        "is_active": user.is_active,
        "is_approved": user.is_approved,
        "is_admin": user.is_admin,
        "onboarded_via_invitation": user.onboarded_via_invitation,
        // Clerk's decisions, mirrored: either one denies the user at the gate.
        "banned": user.banned,
        "locked": user.locked,
        "locked_until": user
            .locked_until
            .filter(|_| user.locked)
            .and_then(|ms| time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok())
            .map(time),
        "created_at": time(user.created_at),
        "updated_at": time(user.updated_at),
    })
}
