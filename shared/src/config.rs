//! Typed configuration, read once per cold start from the environment (the table in
//! `docs/configuration.md` lists every variable).
//!
//! Secrets (`CLERK_SECRET_KEY`, `CLERK_WEBHOOK_SECRET`, `CLERK_JWT_KEY`) are not here: they
//! come from [`crate::secrets`], which reads Secrets Manager when `CLERK_SECRET_ARN` is set.
//! An empty variable counts as unset, so a SAM parameter left at `""` means "default".

use std::time::Duration;

use crate::list::split_list;
use crate::policy::PolicyDocument;
use crate::publishable_key::{PublishableKey, PublishableKeyError};

/// Default Backend API base.
pub const DEFAULT_API_URL: &str = "https://api.clerk.com";
/// Default leeway for `exp` / `nbf` / `iat`, in seconds.
pub const DEFAULT_CLOCK_SKEW_SECONDS: u64 = 5;
/// Default lifetime of cached JWKS: an hour (a rotated key is refetched at once anyway).
pub const DEFAULT_JWKS_CACHE_TTL_SECONDS: u64 = 3600;
/// Default users per Backend API page a reconciliation reads.
pub const DEFAULT_RECONCILE_PAGE_SIZE: u32 = 100;
/// Largest page the Backend API serves (`limit` of `GET /v1/users`).
pub const MAX_RECONCILE_PAGE_SIZE: u32 = 500;
/// Default pace of a reconciliation's Backend API requests: a fifth of a development
/// instance's limit (100 per 10 s), a fiftieth of a production one's (1000 per 10 s).
pub const DEFAULT_RECONCILE_REQUESTS_PER_SECOND: u32 = 2;
/// Default number of users one reconciliation run may tombstone before it stops.
pub const DEFAULT_RECONCILE_MAX_TOMBSTONES: u32 = 100;
/// Default cap on a token's lifetime (`exp - iat`), in seconds.
pub const DEFAULT_MAX_TOKEN_LIFETIME_SECONDS: u64 = 3600;
/// Default lifetime of cached secrets.
pub const DEFAULT_SECRETS_CACHE_TTL_SECONDS: u64 = 300;
/// Default shortest time between two forced secret re-reads.
pub const DEFAULT_SECRETS_REFRESH_INTERVAL_SECONDS: u64 = 30;
/// Default `MACHINE_TOKEN_CACHE_TTL_SECONDS`.
pub const DEFAULT_MACHINE_TOKEN_CACHE_TTL_SECONDS: u64 = 60;

/// What went wrong reading the configuration; always names the variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A variable the caller needs is unset or empty.
    #[error("{var} is not set")]
    Missing {
        /// The variable's name.
        var: &'static str,
    },
    /// A variable is set to something that cannot be used.
    #[error("{var} is malformed: {reason}")]
    Malformed {
        /// The variable's name.
        var: &'static str,
        /// Why, without echoing the value.
        reason: String,
    },
    /// `AUTH_DISABLED=true` outside an explicit development stage.
    #[error("AUTH_DISABLED=true is refused unless STAGE is dev or local (STAGE is {stage})")]
    AuthDisabledOutsideDevelopment {
        /// The stage as configured (`unset` when it is not).
        stage: String,
    },
    /// `AUTH_DISABLED=true` where the functions may reach real AWS (a deployed Lambda).
    #[error(
        "AUTH_DISABLED=true is refused here: it is allowed only against a local stack \
         (AWS_ENDPOINT_URL on loopback, as make dev and the tests run the functions) or under \
         sam local (AWS_SAM_LOCAL=true with LOCAL_AWS_ENDPOINT_URL), never on Lambda"
    )]
    AuthDisabledOffLocalStack,
    /// `LOCAL_AWS_ENDPOINT_URL` outside an explicit development stage.
    #[error(
        "LOCAL_AWS_ENDPOINT_URL is refused unless STAGE is dev or local (STAGE is {stage}): \
         it sends every AWS call to another endpoint"
    )]
    LocalEndpointOutsideDevelopment {
        /// The stage as configured (`unset` when it is not).
        stage: String,
    },
    /// A production stage without `CLERK_AUTHORIZED_PARTIES`.
    #[error("CLERK_AUTHORIZED_PARTIES must list the front end's origins when STAGE is prod")]
    AuthorizedPartiesRequired,
}

/// Deployment stage (`STAGE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `dev` (the default when `STAGE` is unset).
    Dev,
    /// `staging`.
    Staging,
    /// `prod` or `production`.
    Prod,
}

impl Stage {
    fn parse(value: &str) -> Option<Self> {
        match value.to_ascii_lowercase().as_str() {
            "dev" | "development" | "local" => Some(Self::Dev),
            "staging" | "stage" => Some(Self::Staging),
            "prod" | "production" => Some(Self::Prod),
            _ => None,
        }
    }
}

/// Everything the functions read from the environment, parsed and validated.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// `CLERK_PUBLISHABLE_KEY`, parsed.
    pub publishable_key: Option<PublishableKey>,
    /// `CLERK_SECRET_ARN`: where the secrets live; unset = environment.
    pub secret_arn: Option<String>,
    /// `CLERK_JWKS_URL`: explicit key endpoint.
    pub jwks_url: Option<String>,
    /// `CLERK_API_URL`: Backend API base, without a trailing slash.
    pub api_url: String,
    /// `CLERK_ISSUER`: overrides the issuer derived from the publishable key.
    pub issuer_override: Option<String>,
    /// `CLERK_AUTHORIZED_PARTIES`: origins allowed in `azp`; empty = not checked.
    pub authorized_parties: Vec<String>,
    /// `CLERK_AUDIENCE`: when set, `aud` must contain it.
    pub audience: Option<String>,
    /// `CLERK_CLOCK_SKEW_SECONDS`.
    pub clock_skew: Duration,
    /// `CLERK_ALLOW_PENDING_SESSIONS`: accept `sts: "pending"` tokens (default false).
    pub allow_pending_sessions: bool,
    /// `CLERK_ALLOW_MISSING_SID`: accept tokens without `sid` (default false).
    pub allow_missing_sid: bool,
    /// `CLERK_MAX_TOKEN_LIFETIME_SECONDS`: longest `exp - iat` accepted (default 3600).
    pub max_token_lifetime: Duration,
    /// `JWKS_CACHE_TTL_SECONDS`.
    pub jwks_cache_ttl: Duration,
    /// `SECRETS_CACHE_TTL_SECONDS`: how long fetched secrets are reused.
    pub secrets_cache_ttl: Duration,
    /// `SECRETS_REFRESH_INTERVAL_SECONDS`: at most one forced re-read (rotation, a malformed
    /// key) per this interval.
    pub secrets_refresh_interval: Duration,
    /// `MACHINE_TOKEN_CACHE_TTL_SECONDS`: how long an opaque machine token's verification
    /// is reused per warm instance (at most until the token expires).
    pub machine_token_cache_ttl: Duration,
    /// `USERS_TABLE`.
    pub users_table: Option<String>,
    /// `AUTO_APPROVE_USERS`: new users start approved (default true: open sign-up; false means
    /// an admin approves each new user).
    pub auto_approve_users: bool,
    /// `AUTH_DISABLED`: development bypass; only with `STAGE` explicitly `dev` or `local`.
    pub auth_disabled: bool,
    /// One endpoint for every AWS call: `LOCAL_AWS_ENDPOINT_URL` (the local stack from a
    /// `sam local` container; only with `STAGE` explicitly `dev` or `local`), or, under
    /// `AUTH_DISABLED`, the local stack it was checked against.
    pub local_endpoint: Option<String>,
    /// `STAGE`.
    pub stage: Stage,
    /// `CONTEXT_CLAIMS`: custom session-token claims copied into the authorizer context.
    pub context_claims: Vec<String>,
    /// `ROUTE_POLICIES`: what each route asks of its callers, beyond a valid session of an
    /// active, approved user (empty: nothing more).
    pub route_policies: PolicyDocument,
    /// `RECONCILE_PAGE_SIZE`: users per Backend API page (1 to 500, default 100).
    pub reconcile_page_size: u32,
    /// `RECONCILE_REQUESTS_PER_SECOND`: a reconciliation's pace of Backend API requests
    /// (at least 1, default 2).
    pub reconcile_requests_per_second: u32,
    /// `RECONCILE_MAX_TOMBSTONES`: users one run may tombstone before it stops with
    /// `tombstone-limit` (default 100): a key of another Clerk instance finds every user gone.
    pub reconcile_max_tombstones: u32,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(lookup);
        let publishable_key = vars
            .text("CLERK_PUBLISHABLE_KEY")
            .map(|raw| {
                raw.parse::<PublishableKey>()
                    .map_err(|e: PublishableKeyError| malformed("CLERK_PUBLISHABLE_KEY", e))
            })
            .transpose()?;
        let raw_stage = vars.text("STAGE");
        let stage = match &raw_stage {
            None => Stage::Dev,
            Some(raw) => Stage::parse(raw)
                .ok_or_else(|| malformed("STAGE", "expected dev, staging, prod or production"))?,
        };
        let auth_disabled = vars.flag("AUTH_DISABLED", false)?;
        let local_endpoint = vars.text("LOCAL_AWS_ENDPOINT_URL");
        development_only(
            raw_stage.as_deref(),
            auth_disabled,
            local_endpoint.is_some(),
        )?;
        // The bypass's local stack is checked here and set in code for every AWS client, so
        // the endpoint checked is the one used: nothing in the environment or a profile (an
        // unparsable port, `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`) can send it elsewhere.
        let local_endpoint = if auth_disabled {
            let endpoint = local_stack_endpoint(&vars, local_endpoint.as_deref())
                .ok_or(ConfigError::AuthDisabledOffLocalStack)?;
            Some(endpoint)
        } else {
            local_endpoint
        };
        let authorized_parties = vars
            .text("CLERK_AUTHORIZED_PARTIES")
            .map(|raw| split_list(&raw))
            .unwrap_or_default();
        if stage == Stage::Prod && authorized_parties.is_empty() {
            return Err(ConfigError::AuthorizedPartiesRequired);
        }

        Ok(Self {
            publishable_key,
            secret_arn: vars.text("CLERK_SECRET_ARN"),
            jwks_url: vars.url("CLERK_JWKS_URL")?,
            api_url: vars
                .url("CLERK_API_URL")?
                .unwrap_or_else(|| DEFAULT_API_URL.to_owned()),
            issuer_override: vars.url("CLERK_ISSUER")?,
            authorized_parties,
            audience: vars.text("CLERK_AUDIENCE"),
            clock_skew: vars.seconds("CLERK_CLOCK_SKEW_SECONDS", DEFAULT_CLOCK_SKEW_SECONDS)?,
            allow_pending_sessions: vars.flag("CLERK_ALLOW_PENDING_SESSIONS", false)?,
            allow_missing_sid: vars.flag("CLERK_ALLOW_MISSING_SID", false)?,
            max_token_lifetime: vars.seconds(
                "CLERK_MAX_TOKEN_LIFETIME_SECONDS",
                DEFAULT_MAX_TOKEN_LIFETIME_SECONDS,
            )?,
            jwks_cache_ttl: vars
                .seconds("JWKS_CACHE_TTL_SECONDS", DEFAULT_JWKS_CACHE_TTL_SECONDS)?,
            // 0 would mean a Secrets Manager read on every request.
            secrets_cache_ttl: vars.positive_seconds(
                "SECRETS_CACHE_TTL_SECONDS",
                DEFAULT_SECRETS_CACHE_TTL_SECONDS,
            )?,
            secrets_refresh_interval: vars.positive_seconds(
                "SECRETS_REFRESH_INTERVAL_SECONDS",
                DEFAULT_SECRETS_REFRESH_INTERVAL_SECONDS,
            )?,
            machine_token_cache_ttl: vars.seconds(
                "MACHINE_TOKEN_CACHE_TTL_SECONDS",
                DEFAULT_MACHINE_TOKEN_CACHE_TTL_SECONDS,
            )?,
            users_table: vars.text("USERS_TABLE"),
            auto_approve_users: vars.flag("AUTO_APPROVE_USERS", true)?,
            auth_disabled,
            local_endpoint,
            stage,
            context_claims: vars
                .text("CONTEXT_CLAIMS")
                .map(|raw| context_claims(&raw))
                .transpose()?
                .unwrap_or_default(),
            route_policies: vars
                .text("ROUTE_POLICIES")
                .map(|text| {
                    PolicyDocument::parse(&text).map_err(|e| malformed("ROUTE_POLICIES", e))
                })
                .transpose()?
                .unwrap_or_default(),
            reconcile_page_size: vars.number(
                "RECONCILE_PAGE_SIZE",
                DEFAULT_RECONCILE_PAGE_SIZE,
                1..=MAX_RECONCILE_PAGE_SIZE,
            )?,
            reconcile_requests_per_second: vars.number(
                "RECONCILE_REQUESTS_PER_SECOND",
                DEFAULT_RECONCILE_REQUESTS_PER_SECOND,
                1..=1000,
            )?,
            reconcile_max_tombstones: vars.number(
                "RECONCILE_MAX_TOMBSTONES",
                DEFAULT_RECONCILE_MAX_TOMBSTONES,
                0..=u32::MAX,
            )?,
        })
    }

    /// The users table, or an error naming `USERS_TABLE`.
    pub fn users_table(&self) -> Result<&str, ConfigError> {
        self.users_table
            .as_deref()
            .ok_or(ConfigError::Missing { var: "USERS_TABLE" })
    }

    /// The publishable key, or an error naming `CLERK_PUBLISHABLE_KEY`.
    pub fn publishable_key(&self) -> Result<&PublishableKey, ConfigError> {
        self.publishable_key.as_ref().ok_or(ConfigError::Missing {
            var: "CLERK_PUBLISHABLE_KEY",
        })
    }

    /// The expected token issuer: `CLERK_ISSUER`, else derived from the publishable key.
    pub fn issuer(&self) -> Result<String, ConfigError> {
        match &self.issuer_override {
            Some(issuer) => Ok(issuer.clone()),
            None => Ok(self.publishable_key()?.issuer()),
        }
    }
}

fn malformed(var: &'static str, reason: impl ToString) -> ConfigError {
    ConfigError::Malformed {
        var,
        reason: reason.to_string(),
    }
}

/// The most custom claims `CONTEXT_CLAIMS` may name: API Gateway bounds the whole answer.
pub const MAX_CONTEXT_CLAIMS: usize = 10;

/// `CONTEXT_CLAIMS`: comma-separated claim names (letters, digits, `_`, at most 64 bytes),
/// none of the context's own keys, at most [`MAX_CONTEXT_CLAIMS`].
fn context_claims(raw: &str) -> Result<Vec<String>, ConfigError> {
    let names = split_list(raw);
    if names.len() > MAX_CONTEXT_CLAIMS {
        return Err(malformed(
            "CONTEXT_CLAIMS",
            format!("at most {MAX_CONTEXT_CLAIMS} claims"),
        ));
    }
    for name in &names {
        let valid =
            name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(malformed(
                "CONTEXT_CLAIMS",
                format!("{name:?} is not a claim name (letters, digits and _)"),
            ));
        }
        if crate::context::KEYS.contains(&name.as_str()) {
            return Err(malformed(
                "CONTEXT_CLAIMS",
                format!("{name:?} would shadow the context's own key"),
            ));
        }
    }
    Ok(names)
}

/// The settings that redirect or switch off the gate need a stage that says "development"
/// out loud (`dev` or `local`): an unset `STAGE` may be a production deployment that forgot it.
fn development_only(
    raw_stage: Option<&str>,
    auth_disabled: bool,
    local_endpoint: bool,
) -> Result<(), ConfigError> {
    let explicitly_dev =
        raw_stage.is_some_and(|s| matches!(s.to_ascii_lowercase().as_str(), "dev" | "local"));
    let stage = || raw_stage.unwrap_or("unset").to_owned();
    if auth_disabled && !explicitly_dev {
        return Err(ConfigError::AuthDisabledOutsideDevelopment { stage: stage() });
    }
    if local_endpoint && !explicitly_dev {
        return Err(ConfigError::LocalEndpointOutsideDevelopment { stage: stage() });
    }
    Ok(())
}

/// The local stack the functions talk to, where the development bypass can expose nothing
/// real: the endpoint they would send DynamoDB calls to (`LOCAL_AWS_ENDPOINT_URL`, else
/// `AWS_ENDPOINT_URL_DYNAMODB`, else `AWS_ENDPOINT_URL`), parsed as the SDK parses it, with no
/// user info and a loopback host (`make dev`, the tests, `cargo lambda watch` against the
/// local stack), or `host.docker.internal` when `sam local` runs them (`AWS_SAM_LOCAL=true`
/// with `LOCAL_AWS_ENDPOINT_URL`). A deployed Lambda has none: its table, and the users in
/// it, are real. `None` when there is no such endpoint.
fn local_stack_endpoint<F: Fn(&str) -> Option<String>>(
    vars: &Vars<F>,
    local_endpoint: Option<&str>,
) -> Option<String> {
    let sam_local = local_endpoint.is_some()
        && vars
            .text("AWS_SAM_LOCAL")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let endpoint = local_endpoint
        .map(str::to_owned)
        .or_else(|| vars.text("AWS_ENDPOINT_URL_DYNAMODB"))
        .or_else(|| vars.text("AWS_ENDPOINT_URL"))?;
    let url = url::Url::parse(&endpoint).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    let local = match url.host()? {
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
        url::Host::Domain(name) => {
            name == "localhost" || (sam_local && name == "host.docker.internal")
        }
    };
    local.then_some(endpoint)
}

/// The variables as read: trimmed, an empty one counted as unset.
struct Vars<F>(F);

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    fn text(&self, var: &'static str) -> Option<String> {
        (self.0)(var)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn flag(&self, var: &'static str, default: bool) -> Result<bool, ConfigError> {
        let Some(raw) = self.text(var) else {
            return Ok(default);
        };
        match raw.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(malformed(var, "expected true or false")),
        }
    }

    fn seconds(&self, var: &'static str, default: u64) -> Result<Duration, ConfigError> {
        match self.text(var) {
            None => Ok(Duration::from_secs(default)),
            Some(raw) => raw
                .parse::<u64>()
                .map(Duration::from_secs)
                .map_err(|_| malformed(var, "expected a whole number of seconds")),
        }
    }

    fn number(
        &self,
        var: &'static str,
        default: u32,
        range: std::ops::RangeInclusive<u32>,
    ) -> Result<u32, ConfigError> {
        let Some(raw) = self.text(var) else {
            return Ok(default);
        };
        match raw.parse::<u32>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(ConfigError::Malformed {
                var,
                reason: format!(
                    "expected a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            }),
        }
    }

    fn positive_seconds(&self, var: &'static str, default: u64) -> Result<Duration, ConfigError> {
        let value = self.seconds(var, default)?;
        if value.is_zero() {
            return Err(malformed(var, "expected at least 1 second"));
        }
        Ok(value)
    }

    fn url(&self, var: &'static str) -> Result<Option<String>, ConfigError> {
        self.text(var).map(|raw| parse_url(var, &raw)).transpose()
    }
}

/// Keys and identities are fetched from these URLs, so plain HTTP is allowed only to
/// loopback (local stack, tests); everything else must be HTTPS.
fn parse_url(var: &'static str, raw: &str) -> Result<String, ConfigError> {
    let (scheme, rest) = raw
        .split_once("://")
        .ok_or_else(|| malformed(var, "expected an absolute https:// URL"))?;
    let host_port = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host_port.is_empty() || host_port.contains('@') {
        return Err(malformed(
            var,
            "expected a URL with a host and no credentials",
        ));
    }
    // The URL parser is built without Unicode tables (see Cargo.toml): refused here, at cold
    // start, rather than on every request.
    if !host_port.is_ascii() {
        return Err(malformed(
            var,
            "the host must be ASCII (write an international name in its xn-- form)",
        ));
    }
    let loopback = is_loopback(authority_host(rest));
    match scheme.to_ascii_lowercase().as_str() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(malformed(
                var,
                "plain http is only allowed to loopback hosts",
            ));
        }
        _ => return Err(malformed(var, "expected an https:// URL")),
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// The host of a URL's remainder after `scheme://` (no userinfo expected: refused elsewhere).
fn authority_host(rest: &str) -> &str {
    let host_port = rest.split(['/', '?', '#']).next().unwrap_or_default();
    match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host_port.split(':').next().unwrap_or_default(),
    }
}

/// `localhost` or a loopback address, exactly (`127.0.0.1@elsewhere` is neither).
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const PK: &str = "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k";

    fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let c = load(&[]).unwrap();
        assert!(c.publishable_key.is_none());
        assert_eq!(c.api_url, "https://api.clerk.com");
        assert_eq!(c.clock_skew, Duration::from_secs(5));
        assert!(!c.allow_pending_sessions);
        assert!(!c.allow_missing_sid);
        assert_eq!(c.max_token_lifetime, Duration::from_secs(3600));
        assert_eq!(c.jwks_cache_ttl, Duration::from_secs(3600));
        assert_eq!(c.secrets_cache_ttl, Duration::from_secs(300));
        assert_eq!(c.secrets_refresh_interval, Duration::from_secs(30));
        assert!(c.auto_approve_users);
        assert!(!c.auth_disabled);
        assert_eq!(c.stage, Stage::Dev);
        assert!(c.authorized_parties.is_empty());
        assert_eq!(
            c.users_table(),
            Err(ConfigError::Missing { var: "USERS_TABLE" })
        );
        assert_eq!(
            c.issuer(),
            Err(ConfigError::Missing {
                var: "CLERK_PUBLISHABLE_KEY"
            })
        );
    }

    #[test]
    fn reads_every_variable() {
        let c = load(&[
            ("CLERK_PUBLISHABLE_KEY", PK),
            (
                "CLERK_SECRET_ARN",
                "arn:aws:secretsmanager:eu-west-1:1:secret:clerk",
            ),
            ("CLERK_JWKS_URL", "http://127.0.0.1:8080/jwks.json"),
            ("CLERK_API_URL", "https://api.example.test/"),
            (
                "CLERK_AUTHORIZED_PARTIES",
                "https://a.example, https://b.example",
            ),
            ("CLERK_AUDIENCE", "my-api"),
            ("CLERK_CLOCK_SKEW_SECONDS", "10"),
            ("CLERK_ALLOW_PENDING_SESSIONS", "true"),
            ("CLERK_ALLOW_MISSING_SID", "true"),
            ("CLERK_MAX_TOKEN_LIFETIME_SECONDS", "120"),
            ("JWKS_CACHE_TTL_SECONDS", "60"),
            ("SECRETS_CACHE_TTL_SECONDS", "30"),
            ("USERS_TABLE", "users"),
            ("AUTO_APPROVE_USERS", "false"),
            ("SECRETS_REFRESH_INTERVAL_SECONDS", "5"),
            ("CONTEXT_CLAIMS", "metadata, tier"),
            ("AUTH_DISABLED", "true"),
            ("STAGE", "local"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
        ])
        .unwrap();
        assert_eq!(
            c.publishable_key().unwrap().frontend_api(),
            "clerk.example.com"
        );
        assert_eq!(c.issuer().unwrap(), "https://clerk.example.com");
        assert_eq!(
            c.secret_arn.as_deref(),
            Some("arn:aws:secretsmanager:eu-west-1:1:secret:clerk")
        );
        assert_eq!(
            c.jwks_url.as_deref(),
            Some("http://127.0.0.1:8080/jwks.json")
        );
        assert_eq!(c.api_url, "https://api.example.test");
        assert_eq!(
            c.authorized_parties,
            ["https://a.example", "https://b.example"]
        );
        assert_eq!(c.audience.as_deref(), Some("my-api"));
        assert_eq!(c.clock_skew, Duration::from_secs(10));
        assert!(c.allow_pending_sessions);
        assert!(c.allow_missing_sid);
        assert_eq!(c.max_token_lifetime, Duration::from_secs(120));
        assert_eq!(c.jwks_cache_ttl, Duration::from_secs(60));
        assert_eq!(c.secrets_cache_ttl, Duration::from_secs(30));
        assert_eq!(c.secrets_refresh_interval, Duration::from_secs(5));
        assert_eq!(c.context_claims, ["metadata", "tier"]);
        assert_eq!(c.users_table(), Ok("users"));
        assert!(!c.auto_approve_users);
        assert!(c.auth_disabled);
        assert_eq!(c.stage, Stage::Dev);
    }

    #[test]
    fn issuer_override_wins() {
        let c = load(&[
            ("CLERK_PUBLISHABLE_KEY", PK),
            ("CLERK_ISSUER", "https://auth.example.com"),
        ])
        .unwrap();
        assert_eq!(c.issuer().unwrap(), "https://auth.example.com");
    }

    #[test]
    fn empty_values_count_as_unset() {
        let c = load(&[
            ("CLERK_PUBLISHABLE_KEY", ""),
            ("USERS_TABLE", "  "),
            ("STAGE", ""),
        ])
        .unwrap();
        assert!(c.publishable_key.is_none());
        assert!(c.users_table.is_none());
        assert_eq!(c.stage, Stage::Dev);
    }

    #[test]
    fn malformed_values_name_their_variable() {
        let cases: &[(&str, &str)] = &[
            ("CLERK_PUBLISHABLE_KEY", "sk_test_oops"),
            ("CLERK_CLOCK_SKEW_SECONDS", "-1"),
            ("JWKS_CACHE_TTL_SECONDS", "1h"),
            ("SECRETS_CACHE_TTL_SECONDS", "x"),
            ("SECRETS_CACHE_TTL_SECONDS", "0"),
            ("SECRETS_REFRESH_INTERVAL_SECONDS", "0"),
            ("AUTO_APPROVE_USERS", "maybe"),
            ("RECONCILE_PAGE_SIZE", "0"),
            ("RECONCILE_PAGE_SIZE", "501"),
            ("RECONCILE_REQUESTS_PER_SECOND", "0"),
            ("AUTH_DISABLED", "yes please"),
            ("STAGE", "qa"),
            ("CLERK_JWKS_URL", "http://keys.example.com/jwks"),
            ("CLERK_JWKS_URL", "ftp://keys.example.com/jwks"),
            ("CLERK_API_URL", "api.clerk.com"),
            ("CLERK_API_URL", "https://user:pw@api.clerk.com"),
            ("CLERK_API_URL", "https://bücher.example/api"),
            ("CLERK_ISSUER", "https://"),
            ("ROUTE_POLICIES", "{\"GET /x\": {\"rol\": \"admin\"}}"),
            ("ROUTE_POLICIES", "[1]"),
            ("CONTEXT_CLAIMS", "metadata,user_id"),
            ("CONTEXT_CLAIMS", "meta-data"),
            ("CONTEXT_CLAIMS", "a,b,c,d,e,f,g,h,i,j,k"),
        ];
        for (var, value) in cases {
            match load(&[(var, value)]) {
                Err(ConfigError::Malformed { var: got, .. }) => assert_eq!(got, *var, "{value}"),
                other => panic!("{var}={value}: expected Malformed, got {other:?}"),
            }
        }
    }

    #[test]
    fn malformed_reason_does_not_echo_the_value() {
        let err = load(&[("CLERK_PUBLISHABLE_KEY", "pk_test_c2VjcmV0LWxvb2tpbmc")]).unwrap_err();
        assert!(!err.to_string().contains("c2VjcmV0"), "{err}");
    }

    #[test]
    fn auth_disabled_needs_an_explicit_development_stage() {
        for stage in ["prod", "production", "PROD", "staging"] {
            assert_eq!(
                load(&[
                    ("AUTH_DISABLED", "true"),
                    ("STAGE", stage),
                    ("CLERK_AUTHORIZED_PARTIES", "https://app.example")
                ])
                .unwrap_err(),
                ConfigError::AuthDisabledOutsideDevelopment {
                    stage: stage.to_owned()
                }
            );
        }
        for stage in ["staging", "prod"] {
            let refused = load(&[
                ("LOCAL_AWS_ENDPOINT_URL", "http://localhost:4566"),
                ("STAGE", stage),
                ("CLERK_AUTHORIZED_PARTIES", "https://app.example"),
            ])
            .unwrap_err();
            assert_eq!(
                refused,
                ConfigError::LocalEndpointOutsideDevelopment {
                    stage: stage.to_owned()
                }
            );
        }
        let local = load(&[
            ("LOCAL_AWS_ENDPOINT_URL", "http://host.docker.internal:4566"),
            ("STAGE", "local"),
        ])
        .unwrap();
        assert_eq!(
            local.local_endpoint.as_deref(),
            Some("http://host.docker.internal:4566")
        );
        let empty = load(&[
            ("LOCAL_AWS_ENDPOINT_URL", ""),
            ("STAGE", "prod"),
            ("CLERK_AUTHORIZED_PARTIES", "https://app.example"),
        ]);
        assert_eq!(
            empty.map(|c| c.local_endpoint),
            Ok(None),
            "empty, as the template sets it"
        );
        let unset = load(&[("AUTH_DISABLED", "true")]).unwrap_err();
        assert_eq!(
            unset,
            ConfigError::AuthDisabledOutsideDevelopment {
                stage: "unset".to_owned()
            }
        );
        assert!(unset.to_string().contains("AUTH_DISABLED"), "{unset}");
        for stage in ["dev", "DEV", "local"] {
            let c = load(&[
                ("AUTH_DISABLED", "true"),
                ("STAGE", stage),
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
            ])
            .unwrap();
            assert!(c.auth_disabled, "{stage}");
        }
        let c = load(&[
            ("AUTH_DISABLED", "false"),
            ("STAGE", "prod"),
            ("CLERK_AUTHORIZED_PARTIES", "https://app.example"),
        ])
        .unwrap();
        assert_eq!(c.stage, Stage::Prod);
        assert!(!c.auth_disabled);
    }

    #[test]
    fn auth_disabled_needs_a_local_stack_not_lambda() {
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut vars = vec![("AUTH_DISABLED", "true"), ("STAGE", "dev")];
            vars.extend_from_slice(extra);
            load(&vars).map(|c| c.local_endpoint)
        };
        // As on Lambda: no endpoint override, not sam local, STAGE=dev.
        assert_eq!(with(&[]), Err(ConfigError::AuthDisabledOffLocalStack));
        assert!(with(&[]).unwrap_err().to_string().contains("AUTH_DISABLED"));
        for refused in [
            &[(
                "AWS_ENDPOINT_URL",
                "https://dynamodb.us-east-1.amazonaws.com",
            )][..],
            // User info hides the host the SDK signs for and calls.
            &[("AWS_ENDPOINT_URL", "http://127.0.0.1@evil.example:4566")],
            &[(
                "AWS_ENDPOINT_URL",
                "https://localhost:1@dynamodb.us-east-1.amazonaws.com",
            )],
            // A port the SDK cannot parse makes it ignore the override: real DynamoDB.
            &[("AWS_ENDPOINT_URL", "http://localhost:99999")],
            &[("AWS_ENDPOINT_URL", "http://localhost:x")],
            &[("AWS_ENDPOINT_URL", "http://127.0.0.1.evil.example")],
            &[("AWS_ENDPOINT_URL", "http://localhost.evil.example")],
            &[("AWS_ENDPOINT_URL", "http://0.0.0.0:4566")],
            &[("AWS_ENDPOINT_URL", "127.0.0.1:4566")],
            &[("AWS_ENDPOINT_URL", "ftp://127.0.0.1:4566")],
            // DynamoDB's own endpoint decides where the users are.
            &[
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
                (
                    "AWS_ENDPOINT_URL_DYNAMODB",
                    "https://dynamodb.eu-west-1.amazonaws.com",
                ),
            ],
            &[("AWS_SAM_LOCAL", "true")],
            &[("LOCAL_AWS_ENDPOINT_URL", "http://host.docker.internal:4566")],
            &[
                ("AWS_SAM_LOCAL", "true"),
                (
                    "LOCAL_AWS_ENDPOINT_URL",
                    "https://dynamodb.us-east-1.amazonaws.com",
                ),
            ],
        ] {
            assert_eq!(
                with(refused),
                Err(ConfigError::AuthDisabledOffLocalStack),
                "{refused:?}"
            );
        }
        // Allowed, and the endpoint checked is the one every AWS client is given.
        for (allowed, endpoint) in [
            (
                &[("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")][..],
                "http://127.0.0.1:4566",
            ),
            (
                &[("AWS_ENDPOINT_URL", "http://localhost:4566/")],
                "http://localhost:4566/",
            ),
            (
                &[("AWS_ENDPOINT_URL", "http://[::1]:4566")],
                "http://[::1]:4566",
            ),
            (
                &[("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:4566")],
                "http://127.0.0.1:4566",
            ),
            (
                &[
                    ("AWS_SAM_LOCAL", "true"),
                    ("LOCAL_AWS_ENDPOINT_URL", "http://host.docker.internal:4566"),
                ],
                "http://host.docker.internal:4566",
            ),
        ] {
            assert_eq!(with(allowed), Ok(Some(endpoint.to_owned())), "{allowed:?}");
        }
    }

    #[test]
    fn production_needs_authorized_parties() {
        for stage in ["prod", "production"] {
            let err = load(&[("STAGE", stage)]).unwrap_err();
            assert_eq!(err, ConfigError::AuthorizedPartiesRequired);
            assert!(err.to_string().contains("CLERK_AUTHORIZED_PARTIES"));
            assert_eq!(
                load(&[("STAGE", stage), ("CLERK_AUTHORIZED_PARTIES", " , ")]).unwrap_err(),
                ConfigError::AuthorizedPartiesRequired
            );
        }
        assert!(load(&[("STAGE", "staging")]).is_ok());
    }
}
