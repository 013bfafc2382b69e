//! Route policies: Clerk's `has()` enforced per API Gateway route, declared once in a JSON
//! document (`ROUTE_POLICIES`) for any backend behind the gate.
//!
//! ```json
//! {
//!   "GET /reports": { "permission": "org:reports:read" },
//!   "ANY /admin/{proxy+}": { "admin": true },
//!   "POST /billing": { "plan": "pro", "reverification": "strict" },
//!   "DELETE /projects/{id}": { "any_of": [{ "role": "org:admin" }, { "admin": true }] }
//! }
//! ```
//!
//! A policy is the parameter object of Clerk's `has()` (`role`, `permission`, `feature`,
//! `plan`, `reverification`) with exactly its semantics ([`has`]), plus ours: `admin: true`
//! (the stored admin flag), `any_of` (at least one of the policies listed passes, and
//! every other key beside it), and for machine callers `accepts` (the token types the route
//! takes; session tokens only unless it says otherwise) and `scopes` (each one granted to
//! the machine token). A document is read once at cold start; anything malformed in
//! it is a start-up error naming the entry.

pub mod has;
mod route;

use std::sync::Arc;

use serde_json::{Map, Value};

pub use has::Session;

use crate::machine::TokenType;
pub use route::{RouteKey, RouteKeyError, Segment, Specificity, method_and_path, pattern_covers};

/// Why a policy refuses a caller: 403 with this stable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyDenial {
    /// A role or permission was asked and the session has no active organization.
    OrgRequired,
    /// The organization role is not the one asked for.
    RoleRequired,
    /// The organization permission asked for is not granted.
    PermissionRequired,
    /// The feature is not in the caller's (or organization's) `fea`.
    FeatureRequired,
    /// The plan is not in `pla`.
    PlanRequired,
    /// Our stored admin flag is not set.
    AdminRequired,
    /// The session's factors were not verified recently enough.
    ReverificationRequired,
    /// A scope asked for is not granted to the machine token (or the caller is a session).
    ScopeRequired,
    /// The machine token is not from one of the machines listed.
    MachineNotAllowed,
    /// The OAuth access token was not issued to one of the applications listed.
    ClientNotAllowed,
}

impl PolicyDenial {
    /// Every denial, for the exhaustiveness tests.
    pub const ALL: &[PolicyDenial] = &[
        Self::OrgRequired,
        Self::RoleRequired,
        Self::PermissionRequired,
        Self::FeatureRequired,
        Self::PlanRequired,
        Self::AdminRequired,
        Self::ReverificationRequired,
        Self::ScopeRequired,
        Self::MachineNotAllowed,
        Self::ClientNotAllowed,
    ];

    /// The stable reason code.
    pub fn code(self) -> &'static str {
        match self {
            Self::OrgRequired => "org-required",
            Self::RoleRequired => "role-required",
            Self::PermissionRequired => "permission-required",
            Self::FeatureRequired => "feature-required",
            Self::PlanRequired => "plan-required",
            Self::AdminRequired => "admin-required",
            Self::ReverificationRequired => "reverification-required",
            Self::ScopeRequired => "scope-required",
            Self::MachineNotAllowed => "machine-not-allowed",
            Self::ClientNotAllowed => "client-not-allowed",
        }
    }
}

/// Where a feature or plan is looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `o:`, `org:` or `organization:`: the organization's entries.
    Org,
    /// `u:` or `user:`: the user's entries.
    User,
    /// No prefix: either.
    Any,
}

/// A feature or plan, with the scope it is looked for in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scoped {
    /// Where to look.
    pub scope: Scope,
    /// The feature or plan (its slug).
    pub name: String,
}

/// A reverification level (Clerk's `SessionVerificationLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `first_factor`.
    FirstFactor,
    /// `second_factor`.
    SecondFactor,
    /// `multi_factor`.
    MultiFactor,
}

/// What reverification a route asks for: a preset or a level and an age.
#[derive(Debug, Clone, PartialEq)]
pub struct Reverification {
    /// The level.
    pub level: Level,
    /// A factor counts when verified less than this many minutes ago.
    pub after_minutes: f64,
    /// The document's own value (a preset name or the object), as Clerk's front end reads it
    /// back from a reverification error.
    pub config: Value,
}

/// One route's requirements. Every dimension given must pass.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Policy {
    /// `role`: the organization role (`org:` optional).
    pub role: Option<String>,
    /// `permission`: an organization permission (`org:` optional).
    pub permission: Option<String>,
    /// `feature`.
    pub feature: Option<Scoped>,
    /// `plan`.
    pub plan: Option<Scoped>,
    /// `reverification`.
    pub reverification: Option<Reverification>,
    /// `admin: true`: our stored admin flag.
    pub admin: bool,
    /// `any_of`: at least one of these passes.
    pub any_of: Vec<Policy>,
    /// `scopes`: each one granted to the machine token.
    pub scopes: Vec<String>,
    /// `machines`: the machine token comes from one of these (`mch_…`).
    pub machines: Vec<String>,
    /// `clients`: the OAuth access token was issued to one of these applications.
    pub clients: Vec<String>,
    /// `accepts`: the token types the route takes (a route's own policy only; `None` is
    /// session tokens only).
    pub accepts: Option<Vec<TokenType>>,
}

/// The caller a policy is checked against.
#[derive(Debug, Clone, Copy, Default)]
pub struct Subject<'a> {
    /// What the session token says (nothing for a machine caller).
    pub session: Session<'a>,
    /// The stored admin flag (false for a user not stored yet, and for machines).
    pub is_admin: bool,
    /// The scopes granted to a machine token; `None` for a session.
    pub scopes: Option<&'a [String]>,
    /// The machine a machine token speaks for (`mch_…`).
    pub machine_id: Option<&'a str>,
    /// The OAuth application an access token was issued to.
    pub client_id: Option<&'a str>,
}

impl<'a> Subject<'a> {
    /// The caller of a verified session token, with the stored admin flag.
    pub fn from_claims(claims: &'a crate::token::Claims, is_admin: bool) -> Self {
        let org = claims.org.as_ref();
        Self {
            session: Session {
                org_id: org.map(|o| o.id.as_str()),
                org_role: org.and_then(|o| o.role.as_deref()),
                org_permissions: org.map_or(&[], |o| o.permissions.as_slice()),
                features: claims.features.as_deref(),
                plans: claims.plans.as_deref(),
                factor_verification_age: claims.fva.as_deref(),
            },
            is_admin,
            scopes: None,
            machine_id: None,
            client_id: None,
        }
    }
}

impl Policy {
    /// Whether the route takes tokens of this type (session tokens only unless `accepts`
    /// says otherwise).
    pub fn accepts(&self, token_type: TokenType) -> bool {
        self.accepts
            .as_ref()
            .map_or(token_type == TokenType::SessionToken, |types| {
                types.contains(&token_type)
            })
    }

    /// Checks `subject`: `Ok` when every dimension asked passes, else the first that fails,
    /// in this order: organization (role, permission), feature, plan, admin, scopes, and
    /// reverification last (asking a caller to verify again is pointless when something
    /// else would refuse them anyway).
    pub fn check(&self, subject: &Subject<'_>) -> Result<(), PolicyDenial> {
        let session = &subject.session;
        if self.role.is_some() || self.permission.is_some() {
            if session.org_id.is_none_or(str::is_empty) {
                return Err(PolicyDenial::OrgRequired);
            }
            if let Some(role) = &self.role
                && !has::has_role(session, role)
            {
                return Err(PolicyDenial::RoleRequired);
            }
            if let Some(permission) = &self.permission
                && !has::has_permission(session, permission)
            {
                return Err(PolicyDenial::PermissionRequired);
            }
        }
        if let Some(feature) = &self.feature
            && !has::has_scoped(session.features, feature)
        {
            return Err(PolicyDenial::FeatureRequired);
        }
        if let Some(plan) = &self.plan
            && !has::has_scoped(session.plans, plan)
        {
            return Err(PolicyDenial::PlanRequired);
        }
        if self.admin && !subject.is_admin {
            return Err(PolicyDenial::AdminRequired);
        }
        if !self.scopes.is_empty() {
            let granted = subject.scopes.unwrap_or_default();
            if !self.scopes.iter().all(|scope| granted.contains(scope)) {
                return Err(PolicyDenial::ScopeRequired);
            }
        }
        let listed =
            |list: &[String], id: Option<&str>| id.is_some_and(|id| list.iter().any(|l| l == id));
        if !self.machines.is_empty() && !listed(&self.machines, subject.machine_id) {
            return Err(PolicyDenial::MachineNotAllowed);
        }
        if !self.clients.is_empty() && !listed(&self.clients, subject.client_id) {
            return Err(PolicyDenial::ClientNotAllowed);
        }
        // None passing: the first alternative's denial.
        let mut alternatives = self.any_of.iter().map(|p| p.check(subject));
        if let Some(Err(first)) = alternatives.next()
            && alternatives.all(|outcome| outcome.is_err())
        {
            return Err(first);
        }
        if let Some(reverification) = &self.reverification
            && !has::is_reverified(session, reverification)
        {
            return Err(PolicyDenial::ReverificationRequired);
        }
        Ok(())
    }

    /// The reverification this policy (or the `any_of` alternative that failed on it) asks
    /// for, for the error body a front end's `useReverification` reads.
    pub fn reverification_asked(&self) -> Option<&Reverification> {
        self.reverification
            .as_ref()
            .or_else(|| self.any_of.iter().find_map(Policy::reverification_asked))
    }
}

/// Clerk's reverification error body (`reverificationError` in `@clerk/shared`'s
/// `authorization-errors.ts`), which `useReverification` recognises and prompts on; send
/// it with status 403.
pub fn reverification_error_body(asked: Option<&Reverification>) -> Value {
    let mut metadata = Map::new();
    if let Some(asked) = asked {
        metadata.insert("reverification".to_owned(), asked.config.clone());
    }
    serde_json::json!({
        "clerk_error": { "type": "forbidden", "reason": "reverification-error", "metadata": metadata }
    })
}

/// Why a policy document is refused; names the entry at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry}: {reason}")]
pub struct PolicyError {
    /// The route key (and key path inside it) at fault, or `document`.
    pub entry: String,
    /// What is wrong.
    pub reason: String,
}

/// The routes' policies, most specific match first for REST requests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PolicyDocument {
    /// Each route, its policy, and its [`RouteKey::arn_pattern`]: made once at start-up and
    /// shared (not copied) by every decision that names it.
    routes: Vec<(RouteKey, Policy, Option<Arc<str>>)>,
}

/// How deep `any_of` may nest.
const MAX_DEPTH: usize = 4;

impl PolicyDocument {
    /// Parses a document: an object of route keys to policies. Empty text is no policies.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let document = |reason: String| PolicyError {
            entry: "document".to_owned(),
            reason,
        };
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        // Every entry kept, in order: a `Map` would let a repeated key's last policy silently
        // replace the first.
        let Entries(entries) = serde_json::from_str(text).map_err(|e| {
            document(match e.classify() {
                serde_json::error::Category::Data => {
                    "expected an object of route keys to policies".to_owned()
                }
                _ => format!("not JSON (line {}, column {})", e.line(), e.column()),
            })
        })?;
        let mut routes: Vec<(RouteKey, Policy, Option<Arc<str>>)> =
            Vec::with_capacity(entries.len());
        for (key, value) in entries {
            let route = RouteKey::parse(&key).map_err(|e| PolicyError {
                entry: format!("{key:?}"),
                reason: e.reason.to_owned(),
            })?;
            if routes.iter().any(|(other, ..)| *other == route) {
                return Err(PolicyError {
                    entry: format!("{key:?}"),
                    reason: "the same route as another entry".to_owned(),
                });
            }
            let policy = parse_policy(&value, &format!("{key:?}"), 0)?;
            let pattern = route.arn_pattern().map(Arc::from);
            routes.push((route, policy, pattern));
        }
        Ok(Self { routes })
    }

    /// No policies at all.
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    /// Every route and its policy.
    pub fn routes(&self) -> impl Iterator<Item = (&RouteKey, &Policy)> {
        self.routes.iter().map(|(k, p, _)| (k, p))
    }

    /// Every route and its policy, with the IAM resource pattern the route's requests match
    /// (`None` for `$default`).
    pub fn routes_with_arn_patterns(
        &self,
    ) -> impl Iterator<Item = (&RouteKey, &Policy, Option<&Arc<str>>)> {
        self.routes
            .iter()
            .map(|(k, p, pattern)| (k, p, pattern.as_ref()))
    }

    /// The policy of an HTTP API route, by its `routeKey` (`$default` included).
    pub fn for_route_key(&self, key: &RouteKey) -> Option<&Policy> {
        self.routes().find(|(k, _)| *k == key).map(|(_, p)| p)
    }

    /// The policy of a request as API Gateway routes it: the most specific route that
    /// matches `method` and `path`, else `$default`'s.
    pub fn for_request(&self, method: &str, path: &[&str]) -> Option<(&RouteKey, &Policy)> {
        let best = self
            .routes()
            .filter_map(|(k, p)| k.matches(method, path).map(|s| (s, k, p)))
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, k, p)| (k, p));
        best.or_else(|| self.routes().find(|(k, _)| **k == RouteKey::Default))
    }
}

/// A JSON object's entries in order, repeated keys included.
struct Entries(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(Visitor)
    }
}

/// The keys a policy may have.
const KEYS: &[&str] = &[
    "role",
    "permission",
    "feature",
    "plan",
    "reverification",
    "admin",
    "any_of",
    "scopes",
    "machines",
    "clients",
    "accepts",
];

fn parse_policy(value: &Value, entry: &str, depth: usize) -> Result<Policy, PolicyError> {
    let refuse = |at: &str, reason: &str| PolicyError {
        entry: format!("{entry}{at}"),
        reason: reason.to_owned(),
    };
    let Value::Object(map) = value else {
        return Err(refuse("", "a policy is an object"));
    };
    if let Some(unknown) = map.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(refuse(
            &format!(".{unknown}"),
            "unknown key (role, permission, feature, plan, reverification, admin, any_of, scopes, machines, clients, accepts)",
        ));
    }
    if map.is_empty() {
        // `has({})` is false: a route with `{}` would refuse everyone. Say what is meant.
        return Err(refuse(
            "",
            "an empty policy asks for nothing (has({}) refuses everyone): leave the route out instead",
        ));
    }
    let text = |key: &str| -> Result<Option<String>, PolicyError> {
        match map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() && s.trim() == s => Ok(Some(s.clone())),
            Some(_) => Err(refuse(
                &format!(".{key}"),
                "expected a non-empty string without surrounding spaces",
            )),
        }
    };
    let scoped = |key: &str| -> Result<Option<Scoped>, PolicyError> {
        text(key)?
            .map(|raw| parse_scoped(&raw).map_err(|reason| refuse(&format!(".{key}"), reason)))
            .transpose()
    };
    let admin = match map.get("admin") {
        None => false,
        Some(Value::Bool(true)) => true,
        Some(_) => {
            return Err(refuse(
                ".admin",
                "only `true` (leave it out for no admin requirement)",
            ));
        }
    };
    let any_of = match map.get("any_of") {
        None => Vec::new(),
        Some(_) if depth >= MAX_DEPTH => return Err(refuse(".any_of", "nested too deep")),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, item)| parse_policy(item, &format!("{entry}.any_of[{i}]"), depth + 1))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(refuse(".any_of", "expected a non-empty array of policies")),
    };
    let accepts = match map.get("accepts") {
        None => None,
        Some(_) if depth > 0 => {
            return Err(refuse(
                ".accepts",
                "the token types a route takes belong to its own policy, not inside any_of",
            ));
        }
        Some(value) => Some(parse_accepts(value).map_err(|reason| refuse(".accepts", &reason))?),
    };
    let scopes = match map.get("scopes") {
        None => Vec::new(),
        Some(value) => parse_scopes(value).map_err(|reason| refuse(".scopes", reason))?,
    };
    let ids = |key: &str, prefix: &'static str| -> Result<Vec<String>, PolicyError> {
        match map.get(key) {
            None => Ok(Vec::new()),
            Some(value) => parse_scopes(value)
                .ok()
                .filter(|ids| {
                    ids.iter()
                        .all(|id| id.starts_with(prefix) && id.len() > prefix.len())
                })
                .ok_or_else(|| {
                    refuse(
                        &format!(".{key}"),
                        &format!("expected a non-empty array of ids ({prefix}…)"),
                    )
                }),
        }
    };
    let machines = ids("machines", "mch_")?;
    let clients = ids("clients", "")?;
    let reverification = map
        .get("reverification")
        .map(|v| parse_reverification(v).map_err(|reason| refuse(".reverification", reason)))
        .transpose()?;
    Ok(Policy {
        role: text("role")?,
        permission: text("permission")?,
        feature: scoped("feature")?,
        plan: scoped("plan")?,
        reverification,
        admin,
        any_of,
        scopes,
        machines,
        clients,
        accepts,
    })
}

/// A non-empty array of token type names (`session_token`, `m2m_token`, `api_key`,
/// `oauth_token`), each once.
fn parse_accepts(value: &Value) -> Result<Vec<TokenType>, String> {
    let expected = "expected a non-empty array of token types (session_token, m2m_token, api_key, oauth_token)";
    let items = match value {
        Value::Array(items) if !items.is_empty() => items,
        _ => return Err(expected.to_owned()),
    };
    let mut types = Vec::with_capacity(items.len());
    for item in items {
        let name = item.as_str().ok_or_else(|| expected.to_owned())?;
        let kind = TokenType::parse(name).map_err(|e| e.to_string())?;
        if types.contains(&kind) {
            return Err(format!("{name} is listed twice"));
        }
        types.push(kind);
    }
    Ok(types)
}

/// A non-empty array of scopes: each non-empty, of visible ASCII without commas (the
/// context lists them comma-separated; Clerk's JWTs, space-separated).
fn parse_scopes(value: &Value) -> Result<Vec<String>, &'static str> {
    let expected = "expected a non-empty array of scopes (visible ASCII, no spaces or commas)";
    let items = match value {
        Value::Array(items) if !items.is_empty() => items,
        _ => return Err(expected),
    };
    let scope = |item: &Value| match item.as_str() {
        Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && b != b',') => {
            Ok(s.to_owned())
        }
        _ => Err(expected),
    };
    items.iter().map(scope).collect()
}

/// `o:`/`org:`/`organization:`, `u:`/`user:` or no scope, then a slug (Clerk's
/// `ORG_SCOPES` and `USER_SCOPES`; any other prefix is an error there too).
fn parse_scoped(raw: &str) -> Result<Scoped, &'static str> {
    let (scope, name) = match raw.split_once(':') {
        None => (Scope::Any, raw),
        Some(("o" | "org" | "organization", name)) => (Scope::Org, name),
        Some(("u" | "user", name)) => (Scope::User, name),
        Some(_) => return Err("the scope must be o, org, organization, u or user"),
    };
    if name.is_empty() || name.contains(':') {
        return Err("expected one scope at most, then a name");
    }
    Ok(Scoped {
        scope,
        name: name.to_owned(),
    })
}

/// A preset (`strict_mfa`, `strict`, `moderate`, `lax`) or `{"level", "afterMinutes"}`,
/// with Clerk's values (`authorization.ts`, `REVERIFICATION_PRESETS`).
fn parse_reverification(value: &Value) -> Result<Reverification, &'static str> {
    let (level, after_minutes) = match value {
        Value::String(preset) => match preset.as_str() {
            "strict_mfa" => (Level::MultiFactor, 10.0),
            "strict" => (Level::SecondFactor, 10.0),
            "moderate" => (Level::SecondFactor, 60.0),
            "lax" => (Level::SecondFactor, 1440.0),
            _ => return Err("unknown preset (strict_mfa, strict, moderate, lax)"),
        },
        Value::Object(config) => {
            if config.keys().any(|k| k != "level" && k != "afterMinutes") {
                return Err("an object has level and afterMinutes only");
            }
            let level = match config.get("level").and_then(Value::as_str) {
                Some("first_factor") => Level::FirstFactor,
                Some("second_factor") => Level::SecondFactor,
                Some("multi_factor") => Level::MultiFactor,
                _ => return Err("level must be first_factor, second_factor or multi_factor"),
            };
            let after_minutes = config
                .get("afterMinutes")
                .and_then(Value::as_f64)
                .filter(|m| *m > 0.0)
                .ok_or("afterMinutes must be a number of minutes above 0")?;
            (level, after_minutes)
        }
        _ => return Err("expected a preset name or {\"level\", \"afterMinutes\"}"),
    };
    Ok(Reverification {
        level,
        after_minutes,
        config: value.clone(),
    })
}

#[cfg(test)]
mod tests;
