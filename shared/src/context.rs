//! The authorizer context: what the authorizer tells the integrations about the caller.
//!
//! One type for both ends of the contract — the authorizer writes it, the users API (and any
//! integration of yours) reads it — so the keys cannot drift apart. Values are strings only,
//! as REST authorizers require; HTTP APIs pass them through unchanged.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use crate::dev;
use crate::policy::{Policy, PolicyDenial, Session, Subject};

/// The context's own keys: custom claims (`CONTEXT_CLAIMS`) may not use them, nor `reason`
/// (a refusal's code in REST answers).
pub const KEYS: &[&str] = &[
    "user_id",
    "clerk_user_id",
    "email",
    "is_admin",
    "session_id",
    "org_id",
    "org_role",
    "org_slug",
    "org_permissions",
    "features",
    "plan",
    "factor_age_minutes",
    "synced",
    "token_exp",
    "reason",
];

/// The longest custom claim copied into the context, in bytes: API Gateway bounds the whole
/// authorizer answer, so a larger one is left out (and logged), never cut.
pub const MAX_CLAIM_BYTES: usize = 1024;

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
    /// Its slug.
    pub org_slug: Option<String>,
    /// Its permissions (`org:<feature>:<permission>`), decoded from the token as Clerk does.
    pub org_permissions: Vec<String>,
    /// The token's `fea` claim as sent (`o:`/`u:`-scoped features).
    pub features: Option<String>,
    /// The token's `pla` claim as sent (scoped plans).
    pub plan: Option<String>,
    /// The token's `fva`: minutes since the first and second factor were verified (`-1`: none).
    pub factor_age_minutes: Option<Vec<i64>>,
    /// The custom claims `CONTEXT_CLAIMS` names, as strings (other JSON serialised).
    pub claims: BTreeMap<String, String>,
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
            org_slug: None,
            org_permissions: Vec::new(),
            features: None,
            plan: None,
            factor_age_minutes: None,
            claims: BTreeMap::new(),
            synced: true,
            token_exp: None,
        }
    }

    /// Clerk's `has()` on this context (the gate's own evaluator, [`Policy::check`]): for
    /// integrations behind the authorizer that decide more than the route policies do.
    pub fn has(&self, policy: &Policy) -> Result<(), PolicyDenial> {
        let subject = Subject {
            session: Session {
                org_id: self.org_id.as_deref(),
                org_role: self.org_role.as_deref(),
                org_permissions: &self.org_permissions,
                features: self.features.as_deref(),
                plans: self.plan.as_deref(),
                factor_verification_age: self.factor_age_minutes.as_deref(),
            },
            is_admin: self.is_admin,
        };
        policy.check(&subject)
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
        put("org_slug", self.org_slug.as_deref());
        let permissions = self.org_permissions.join(",");
        put(
            "org_permissions",
            (!permissions.is_empty()).then_some(permissions.as_str()),
        );
        put("features", self.features.as_deref());
        put("plan", self.plan.as_deref());
        let ages = self.factor_age_minutes.as_ref().map(|ages| {
            ages.iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(",")
        });
        put("factor_age_minutes", ages.as_deref());
        put("synced", Some(bool_str(self.synced)));
        let exp = self.token_exp.map(|exp| exp.to_string());
        put("token_exp", exp.as_deref());
        for (name, value) in &self.claims {
            map.entry(name.clone())
                .or_insert_with(|| Value::String(value.clone()));
        }
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
            org_slug: text("org_slug"),
            org_permissions: text("org_permissions")
                .map(|p| p.split(',').map(str::to_owned).collect())
                .unwrap_or_default(),
            features: text("features"),
            plan: text("plan"),
            factor_age_minutes: text("factor_age_minutes")
                .and_then(|a| a.split(',').map(|n| n.trim().parse().ok()).collect()),
            claims: fields
                .iter()
                .filter(|(k, _)| !KEYS.contains(&k.as_str()))
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect(),
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
            org_slug: Some("acme".into()),
            org_permissions: vec!["org:reports:read".into(), "org:reports:manage".into()],
            features: Some("o:reports,u:beta".into()),
            plan: Some("u:pro".into()),
            factor_age_minutes: Some(vec![3, -1]),
            claims: BTreeMap::from([("metadata".into(), r#"{"tier":"gold"}"#.into())]),
            synced: false,
            token_exp: Some(1_800_000_000),
        };
        let map = caller.to_map();
        assert_eq!(map["is_admin"], "true");
        assert_eq!(
            map["org_permissions"],
            "org:reports:read,org:reports:manage"
        );
        assert_eq!(map["factor_age_minutes"], "3,-1");
        assert_eq!(map["metadata"], r#"{"tier":"gold"}"#);
        assert!(!map.contains_key("email"), "absent values are left out");
        let fields: HashMap<String, Value> = map.into_iter().collect();
        assert_eq!(CallerContext::from_map(&fields), Some(caller));
    }

    /// One evaluator for the gate and the integrations behind it: a context decides as the
    /// token it was made from did.
    #[test]
    fn the_context_answers_has_as_the_gate_does() {
        let caller = CallerContext {
            org_id: Some("org_1".into()),
            org_role: Some("org:admin".into()),
            org_permissions: vec!["org:reports:read".into()],
            features: Some("o:reports,u:beta".into()),
            plan: Some("u:pro".into()),
            factor_age_minutes: Some(vec![3, -1]),
            is_admin: false,
            ..CallerContext::dev()
        };
        let fields: HashMap<String, Value> = caller.to_map().into_iter().collect();
        let read_back = CallerContext::from_map(&fields).unwrap();
        let policy = |json: &str| {
            let doc =
                crate::policy::PolicyDocument::parse(&format!(r#"{{"GET /x": {json}}}"#)).unwrap();
            doc.routes().next().unwrap().1.clone()
        };
        for context in [&caller, &read_back] {
            assert_eq!(context.has(&policy(r#"{"role": "admin"}"#)), Ok(()));
            assert_eq!(
                context.has(&policy(r#"{"permission": "reports:read"}"#)),
                Ok(())
            );
            assert_eq!(
                context.has(&policy(r#"{"permission": "reports:manage"}"#)),
                Err(PolicyDenial::PermissionRequired)
            );
            assert_eq!(
                context.has(&policy(r#"{"feature": "user:beta", "plan": "pro"}"#)),
                Ok(())
            );
            assert_eq!(
                context.has(&policy(r#"{"reverification": "strict"}"#)),
                Ok(())
            );
            assert_eq!(
                context.has(&policy(r#"{"admin": true}"#)),
                Err(PolicyDenial::AdminRequired)
            );
        }
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
