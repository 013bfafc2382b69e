//! The authorizer context: what the authorizer tells the integrations about the caller.
//!
//! One type for both ends of the contract — the authorizer writes it, the users API (and any
//! integration of yours) reads it — so the keys cannot drift apart. Values are strings only,
//! as REST authorizers require; HTTP APIs pass them through unchanged.

use std::collections::HashMap;

use serde_json::{Map, Value};

use crate::dev;

/// The caller of a request that passed the authorizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerContext {
    /// Our user id; absent until the user is stored.
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
    /// The token's `exp` (Unix seconds): API Gateway may serve this context from its cache
    /// for a while, so readers check it ([`CallerContext::check_fresh`]). `None` only for
    /// the development user of `AUTH_DISABLED`, which has no token.
    pub token_exp: Option<i64>,
}

/// Why a context is not usable: its token expired while the context sat in a cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContextError {
    /// `token_exp` has passed (beyond the clock skew), or the context carries none.
    #[error("the caller's token has expired")]
    TokenExpired,
}

impl ContextError {
    /// The stable reason code (the verifier's code for the same cause).
    pub fn code(self) -> &'static str {
        match self {
            Self::TokenExpired => "token-expired",
        }
    }
}

impl CallerContext {
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
            token_exp: None,
        }
    }

    /// The context map, absent values left out.
    pub fn to_map(&self) -> Map<String, Value> {
        let mut map = Map::new();
        let mut put = |key: &str, value: Option<&str>| {
            if let Some(v) = value {
                map.insert(key.to_owned(), Value::String(v.to_owned()));
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
        let exp = self.token_exp.map(|exp| exp.to_string());
        put("token_exp", exp.as_deref());
        map
    }

    /// Reads a context map; `None` without a `clerk_user_id`. Booleans may be strings
    /// (REST) or JSON booleans (an HTTP API authorizer of your own).
    pub fn from_map(fields: &HashMap<String, Value>) -> Option<Self> {
        let text = |key: &str| match fields.get(key) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        let flag = |key: &str| match fields.get(key) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true",
            _ => false,
        };
        Some(Self {
            clerk_user_id: text("clerk_user_id")?,
            user_id: text("user_id"),
            email: text("email"),
            is_admin: flag("is_admin"),
            session_id: text("session_id"),
            org_id: text("org_id"),
            org_role: text("org_role"),
            synced: flag("synced"),
            token_exp: match fields.get("token_exp") {
                Some(Value::String(s)) => s.parse().ok(),
                Some(Value::Number(n)) => n.as_i64(),
                _ => None,
            },
        })
    }

    /// Refuses a context whose token expired more than `skew_seconds` before `now` (Unix
    /// seconds), or that carries no expiry: a cached allow must not outlive its token.
    pub fn check_fresh(&self, now: i64, skew_seconds: i64) -> Result<(), ContextError> {
        match self.token_exp {
            Some(exp) if exp > now.saturating_sub(skew_seconds) => Ok(()),
            _ => Err(ContextError::TokenExpired),
        }
    }

    /// True when `id` (ours or Clerk's) names the caller.
    pub fn is(&self, id: &str) -> bool {
        self.clerk_user_id == id || self.user_id.as_deref() == Some(id)
    }
}

fn bool_str(b: bool) -> &'static str {
    if b { "true" } else { "false" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_the_string_map() {
        let caller = CallerContext {
            user_id: Some("u-1".into()),
            clerk_user_id: "user_1".into(),
            email: None,
            is_admin: true,
            session_id: Some("sess_1".into()),
            org_id: Some("org_1".into()),
            org_role: Some("org:admin".into()),
            synced: false,
            token_exp: Some(1_800_000_000),
        };
        let map = caller.to_map();
        assert_eq!(map["is_admin"], "true");
        assert!(!map.contains_key("email"), "absent values are left out");
        let fields: HashMap<String, Value> = map.into_iter().collect();
        assert_eq!(CallerContext::from_map(&fields), Some(caller));
    }

    #[test]
    fn needs_a_clerk_user_id_and_accepts_json_booleans() {
        assert_eq!(CallerContext::from_map(&HashMap::new()), None);
        let fields = HashMap::from([
            ("clerk_user_id".to_owned(), Value::from("user_2")),
            ("is_admin".to_owned(), Value::Bool(true)),
        ]);
        let caller = CallerContext::from_map(&fields).unwrap();
        assert!(caller.is_admin && !caller.synced);
        assert!(caller.is("user_2"));
        assert_eq!(caller.token_exp, None);
    }

    #[test]
    fn a_context_is_fresh_until_its_token_expires() {
        let at = |exp: Option<i64>| CallerContext {
            token_exp: exp,
            ..CallerContext::dev()
        };
        assert_eq!(at(Some(1_000)).check_fresh(990, 5), Ok(()));
        assert_eq!(at(Some(1_000)).check_fresh(1_004, 5), Ok(()));
        assert_eq!(
            at(Some(1_000)).check_fresh(1_005, 5),
            Err(ContextError::TokenExpired)
        );
        assert_eq!(at(None).check_fresh(0, 5), Err(ContextError::TokenExpired));
        let fields = HashMap::from([
            ("clerk_user_id".to_owned(), Value::from("user_3")),
            ("token_exp".to_owned(), Value::from("1000")),
        ]);
        let caller = CallerContext::from_map(&fields).unwrap();
        assert_eq!(caller.token_exp, Some(1_000));
        assert_eq!(ContextError::TokenExpired.code(), "token-expired");
    }
}
