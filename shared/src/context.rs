//! The authorizer context: what the authorizer tells the integrations about the caller.
//!
//! One type for both ends of the contract — the authorizer writes it, the users API (and any
//! integration of yours) reads it — so the keys cannot drift apart. Values are strings only,
//! as REST authorizers require; HTTP APIs pass them through unchanged.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use crate::dev;
use crate::machine::TokenType;
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
    "token_type",
    "subject",
    "scopes",
    "machine_id",
    "client_id",
    "reason",
];

/// The longest custom claim copied into the context, in bytes: API Gateway bounds the whole
/// authorizer answer, so a larger one is left out (and logged), never cut.
pub const MAX_CLAIM_BYTES: usize = 1024;

/// A machine token's caller: what Clerk says the token was issued to and may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MachineCaller {
    /// `m2m_token`, `api_key` or `oauth_token`.
    pub token_type: TokenType,
    /// Whom the token was issued to: a machine (`mch_…`), a user (`user_…`) or an
    /// organization (`org_…`).
    pub subject: String,
    /// The scopes granted to the token.
    pub scopes: Vec<String>,
    /// The machine the token speaks for (`mch_…`), when its subject is one.
    pub machine_id: Option<String>,
    /// The OAuth application's client id (OAuth tokens).
    pub client_id: Option<String>,
}

/// The caller of a request that passed the authorizer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerContext {
    /// Our user id; absent until the user is stored.
    pub user_id: Option<String>,
    /// Clerk's user id (`sub`); empty for a machine caller whose subject is no user.
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
    /// The machine token's caller; `None` for a session.
    pub machine: Option<MachineCaller>,
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
            machine: None,
        }
    }

    /// Clerk's `has()` on this context (the gate's own evaluator, [`Policy::check`]): for
    /// integrations behind the authorizer that decide more than the route policies do.
    pub fn has(&self, policy: &Policy) -> Result<(), PolicyDenial> {
        policy.check(&self.subject())
    }

    /// The caller as policies see it: the session's claims (none for a machine), the stored
    /// admin flag, a machine token's scopes.
    pub fn subject(&self) -> Subject<'_> {
        Subject {
            session: Session {
                org_id: self.org_id.as_deref(),
                org_role: self.org_role.as_deref(),
                org_permissions: &self.org_permissions,
                features: self.features.as_deref(),
                plans: self.plan.as_deref(),
                factor_verification_age: self.factor_age_minutes.as_deref(),
            },
            is_admin: self.is_admin,
            scopes: self.machine.as_ref().map(|m| m.scopes.as_slice()),
            machine_id: self.machine.as_ref().and_then(|m| m.machine_id.as_deref()),
            client_id: self.machine.as_ref().and_then(|m| m.client_id.as_deref()),
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
        put(
            "clerk_user_id",
            (!self.clerk_user_id.is_empty()).then_some(self.clerk_user_id.as_str()),
        );
        put("token_type", Some(self.token_type().as_str()));
        if let Some(machine) = &self.machine {
            put("subject", Some(&machine.subject));
            let scopes = machine.scopes.join(",");
            put("scopes", (!scopes.is_empty()).then_some(scopes.as_str()));
            put("machine_id", machine.machine_id.as_deref());
            put("client_id", machine.client_id.as_deref());
        }
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

    /// The caller's token type (`session_token` for a session).
    pub fn token_type(&self) -> TokenType {
        self.machine
            .as_ref()
            .map_or(TokenType::SessionToken, |m| m.token_type)
    }

    /// Reads a context map; `None` without a `clerk_user_id` (a machine caller's may lack
    /// one), or with a `token_type` that is not Clerk's. A map without `token_type` is a
    /// session's. Booleans may be strings (REST) or JSON booleans (an HTTP API authorizer
    /// of your own).
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
        let token_type = match text("token_type") {
            None => TokenType::SessionToken,
            Some(name) => TokenType::parse(&name).ok()?,
        };
        let machine = match token_type {
            TokenType::SessionToken => None,
            token_type => Some(MachineCaller {
                token_type,
                subject: text("subject")?,
                scopes: text("scopes")
                    .map(|s| s.split(',').map(str::to_owned).collect())
                    .unwrap_or_default(),
                machine_id: text("machine_id"),
                client_id: text("client_id"),
            }),
        };
        let clerk_user_id = match (text("clerk_user_id"), &machine) {
            (Some(id), _) => id,
            (None, Some(_)) => String::new(),
            (None, None) => return None,
        };
        Some(Self {
            clerk_user_id,
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
            machine,
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
        (!self.clerk_user_id.is_empty() && self.clerk_user_id == id)
            || self.user_id.as_deref() == Some(id)
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
            machine: None,
        };
        let map = caller.to_map();
        assert_eq!(map["is_admin"], "true");
        assert_eq!(map["token_type"], "session_token");
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
    fn a_machine_caller_round_trips_with_or_without_a_user() {
        let machine = CallerContext {
            user_id: None,
            clerk_user_id: String::new(),
            email: None,
            is_admin: false,
            session_id: None,
            org_id: None,
            org_role: None,
            org_slug: None,
            org_permissions: Vec::new(),
            features: None,
            plan: None,
            factor_age_minutes: None,
            claims: BTreeMap::new(),
            synced: false,
            token_exp: Some(1_800_000_000),
            machine: Some(MachineCaller {
                token_type: TokenType::M2mToken,
                subject: "mch_1".into(),
                scopes: vec!["mch_2".into(), "mch_3".into()],
                machine_id: Some("mch_1".into()),
                client_id: None,
            }),
        };
        let map = machine.to_map();
        assert_eq!(map["token_type"], "m2m_token");
        assert_eq!(map["subject"], "mch_1");
        assert_eq!(map["scopes"], "mch_2,mch_3");
        assert_eq!(map["machine_id"], "mch_1");
        assert!(!map.contains_key("clerk_user_id"), "no user: no user id");
        let fields: HashMap<String, Value> = map.into_iter().collect();
        let read = CallerContext::from_map(&fields).unwrap();
        assert_eq!(read, machine);
        assert!(!read.is(""), "an empty user id names no one");
        // An OAuth token issued to a user carries the user too.
        let mut oauth = machine.clone();
        oauth.clerk_user_id = "user_1".into();
        oauth.machine = Some(MachineCaller {
            token_type: TokenType::OAuthToken,
            subject: "user_1".into(),
            scopes: Vec::new(),
            machine_id: None,
            client_id: Some("client_1".into()),
        });
        let fields: HashMap<String, Value> = oauth.to_map().into_iter().collect();
        assert_eq!(CallerContext::from_map(&fields), Some(oauth));
        // A session's context needs its user; an unknown type is no context.
        let mut fields = fields;
        fields.insert("token_type".into(), Value::from("session_token"));
        fields.remove("clerk_user_id");
        assert_eq!(CallerContext::from_map(&fields), None);
        fields.insert("token_type".into(), Value::from("mystery"));
        fields.insert("clerk_user_id".into(), Value::from("user_1"));
        assert_eq!(CallerContext::from_map(&fields), None);
    }

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
