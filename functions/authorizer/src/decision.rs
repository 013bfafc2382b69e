//! What the authorizer decides for one request, independent of the API Gateway flavour.

use serde_json::{Map, Value};
use shared::dev;
use shared::{Claims, User};

/// The outcome for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Let the request through with this identity.
    Allow(Identity),
    /// Token problem: 401.
    Unauthorized(&'static str),
    /// Known caller not allowed in, or we could not decide (keys or store unreachable): 403.
    Forbidden {
        /// Stable reason code.
        reason: &'static str,
        /// The Clerk user, when the token was valid.
        clerk_user_id: Option<String>,
    },
}

/// The caller, as passed to the integrations in the authorizer context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Our user id; `None` until the webhook (or a lazy sync) stored the user.
    pub user_id: Option<String>,
    /// Clerk's user id (`sub`).
    pub clerk_user_id: String,
    /// The stored email.
    pub email: Option<String>,
    /// The stored admin flag.
    pub is_admin: bool,
    /// Clerk session id (`sid`).
    pub session_id: Option<String>,
    /// Active organization id.
    pub org_id: Option<String>,
    /// Role in it (`org:<role>`).
    pub org_role: Option<String>,
    /// False when the user is not in our table yet.
    pub synced: bool,
}

impl Identity {
    /// A stored user with a verified token.
    pub fn of(user: &User, claims: &Claims) -> Self {
        Self {
            user_id: Some(user.id.to_string()),
            email: user.email.clone(),
            is_admin: user.is_admin,
            synced: true,
            ..Self::unsynced(claims)
        }
    }

    /// A verified token whose user is not stored yet.
    pub fn unsynced(claims: &Claims) -> Self {
        Self {
            user_id: None,
            clerk_user_id: claims.sub.clone(),
            email: None,
            is_admin: false,
            session_id: claims.sid.clone(),
            org_id: claims.org.as_ref().map(|o| o.id.clone()),
            org_role: claims.org.as_ref().and_then(|o| o.role.clone()),
            synced: false,
        }
    }

    /// The fixed development user of `AUTH_DISABLED=true`.
    pub fn dev() -> Self {
        Self {
            user_id: Some(dev::DEV_USER_ID.to_string()),
            clerk_user_id: dev::DEV_CLERK_USER_ID.to_owned(),
            email: Some(dev::DEV_EMAIL.to_owned()),
            is_admin: true,
            session_id: None,
            org_id: None,
            org_role: None,
            synced: true,
        }
    }

    /// The authorizer context: string values only (what REST requires; HTTP APIs accept
    /// it too, so integrations parse one shape). Absent values are left out.
    pub fn context(&self) -> Map<String, Value> {
        let mut context = Map::new();
        let mut put = |key: &str, value: Option<&str>| {
            if let Some(v) = value {
                context.insert(key.to_owned(), Value::String(v.to_owned()));
            }
        };
        put("user_id", self.user_id.as_deref());
        put("clerk_user_id", Some(&self.clerk_user_id));
        put("email", self.email.as_deref());
        put("is_admin", Some(bool_str(self.is_admin)));
        put("session_id", self.session_id.as_deref());
        put("org_id", self.org_id.as_deref());
        put("org_role", self.org_role.as_deref());
        put("synced", Some(bool_str(self.synced)));
        context
    }
}

fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}
