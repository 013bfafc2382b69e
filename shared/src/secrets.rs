//! Clerk's secrets: from Secrets Manager when `CLERK_SECRET_ARN` is set, else the environment.
//!
//! The secret's `SecretString` is a JSON object with `CLERK_SECRET_KEY`,
//! `CLERK_WEBHOOK_SECRET` and optionally `CLERK_JWT_KEY` (other keys are ignored, so one
//! secret can serve several apps). Fetched values are cached per warm instance for a TTL;
//! [`SecretsProvider::refresh`] forces a re-read (for rotation). Neither a flood of bad
//! webhook signatures nor a Secrets Manager outage turns into a flood of calls: forced
//! re-reads happen at most once per [`DEFAULT_MIN_REFRESH_INTERVAL`] whatever their outcome,
//! and after a failed read no read is tried for [`DEFAULT_FAILURE_BACKOFF`]. While reads fail,
//! the values last read are served (a rotation is picked up once Secrets Manager answers).

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_secretsmanager::config::timeout::TimeoutConfig;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::key_shape::{self, MalformedKey};
use crate::list::split_list;
use crate::redacted::Secret;

/// Names of the three secrets, in the environment and as keys of the JSON secret.
pub const SECRET_KEY_VAR: &str = "CLERK_SECRET_KEY";
/// See [`SECRET_KEY_VAR`].
pub const WEBHOOK_SECRET_VAR: &str = "CLERK_WEBHOOK_SECRET";
/// See [`SECRET_KEY_VAR`].
pub const JWT_KEY_VAR: &str = "CLERK_JWT_KEY";
/// See [`SECRET_KEY_VAR`]: a machine's secret key, which verifies opaque M2M tokens.
pub const MACHINE_SECRET_KEY_VAR: &str = "CLERK_MACHINE_SECRET_KEY";

/// At most one forced re-read per this interval, whether it succeeds or fails.
pub const DEFAULT_MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// After a failed read, no read (forced or not) is tried for this long.
pub const DEFAULT_FAILURE_BACKOFF: Duration = Duration::from_secs(5);
/// A whole `GetSecretValue`, retries included, may take this long: the authorizer may wait
/// on it inside a request (once per TTL), next to a JWKS fetch, within Lambda's timeout.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(3);

/// Why the secrets could not be loaded. Never carries a secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretsError {
    /// Secrets Manager could not be reached or refused the call (retry-worthy).
    #[error("secrets manager unavailable: {0}")]
    Unavailable(String),
    /// The secret holds binary data, not a `SecretString`.
    #[error("the secret has no SecretString")]
    NoSecretString,
    /// The `SecretString` is not a JSON object of strings.
    #[error("the secret is malformed: {0}")]
    Malformed(String),
}

/// The secret values the functions use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClerkSecrets {
    /// `sk_…`: Backend API access.
    pub secret_key: Option<Secret>,
    /// `whsec_…`, one or several during a rotation.
    pub webhook_secrets: Vec<Secret>,
    /// PEM public key for networkless token verification.
    pub jwt_key: Option<Secret>,
    /// `ak_…`: a machine secret key, the credential for verifying opaque M2M tokens (the
    /// secret key is used without one).
    pub machine_secret_key: Option<Secret>,
    /// Keys given but not of their shape ([`crate::key_shape`]): their values are left out
    /// above (a webhook secret's well-formed entries are kept), so none is ever used.
    pub malformed: Vec<MalformedKey>,
}

impl ClerkSecrets {
    /// Reads the three variables through `lookup` (local development, tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        Self::from_values(
            lookup(SECRET_KEY_VAR),
            lookup(WEBHOOK_SECRET_VAR),
            lookup(JWT_KEY_VAR),
        )
        .with_machine_secret_key(lookup(MACHINE_SECRET_KEY_VAR))
    }

    /// Parses a Secrets Manager `SecretString`.
    pub fn from_json(secret_string: &str) -> Result<Self, SecretsError> {
        // Parse to a Value and check types ourselves: serde's own messages can quote values.
        let value: serde_json::Value = serde_json::from_str(secret_string).map_err(|e| {
            SecretsError::Malformed(format!(
                "not valid JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let object = value
            .as_object()
            .ok_or_else(|| SecretsError::Malformed("expected a JSON object".to_owned()))?;
        let field = |name: &str| match object.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(SecretsError::Malformed(format!("{name} must be a string"))),
        };
        Ok(Self::from_values(
            field(SECRET_KEY_VAR)?,
            field(WEBHOOK_SECRET_VAR)?,
            field(JWT_KEY_VAR)?,
        )
        .with_machine_secret_key(field(MACHINE_SECRET_KEY_VAR)?))
    }

    fn from_values(
        secret_key: Option<String>,
        webhook_secret: Option<String>,
        jwt_key: Option<String>,
    ) -> Self {
        let non_empty =
            |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let mut malformed = Vec::new();
        let mut checked =
            |var: &'static str, value: String, check: fn(&str) -> Result<(), &'static str>| {
                match check(&value) {
                    Ok(()) => Some(Secret::new(value)),
                    Err(reason) => {
                        if !malformed.iter().any(|m: &MalformedKey| m.var == var) {
                            malformed.push(MalformedKey { var, reason });
                        }
                        None
                    }
                }
            };
        let secret_key =
            non_empty(secret_key).and_then(|v| checked(SECRET_KEY_VAR, v, key_shape::secret_key));
        let webhook_secrets = non_empty(webhook_secret)
            .map(|raw| split_list(&raw))
            .unwrap_or_default()
            .into_iter()
            .filter_map(|entry| checked(WEBHOOK_SECRET_VAR, entry, key_shape::webhook_secret))
            .collect();
        let jwt_key = non_empty(jwt_key)
            .and_then(|pem| checked(JWT_KEY_VAR, unescape_pem(&pem), key_shape::jwt_key));
        Self {
            secret_key,
            webhook_secrets,
            jwt_key,
            machine_secret_key: None,
            malformed,
        }
    }

    /// These secrets with `CLERK_MACHINE_SECRET_KEY` read too (checked like the others).
    fn with_machine_secret_key(mut self, value: Option<String>) -> Self {
        let value = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        if let Some(value) = value {
            match key_shape::machine_secret_key(&value) {
                Ok(()) => self.machine_secret_key = Some(Secret::new(value)),
                Err(reason) => self.malformed.push(MalformedKey {
                    var: MACHINE_SECRET_KEY_VAR,
                    reason,
                }),
            }
        }
        self
    }

    /// Why `var` was left out, when it was given but malformed.
    pub fn malformed(&self, var: &str) -> Option<MalformedKey> {
        self.malformed.iter().find(|m| m.var == var).copied()
    }

    /// The first of `vars` that was given but malformed.
    pub fn first_malformed(&self, vars: &[&str]) -> Option<MalformedKey> {
        vars.iter().find_map(|var| self.malformed(var))
    }
}

/// A PEM pasted into a one-line variable often arrives with literal `\n` sequences.
fn unescape_pem(pem: &str) -> String {
    if pem.contains("\\n") {
        pem.replace("\\r\\n", "\n").replace("\\n", "\n")
    } else {
        pem.to_owned()
    }
}

enum Source {
    Fixed(Arc<ClerkSecrets>),
    SecretsManager {
        client: aws_sdk_secretsmanager::Client,
        secret_id: String,
    },
}

struct Cached {
    value: Arc<ClerkSecrets>,
    fetched_at: Instant,
}

#[derive(Default)]
struct State {
    cached: Option<Cached>,
    /// The last read that failed, and why; cleared by a successful read.
    failed: Option<(Instant, SecretsError)>,
    /// The last forced re-read, whatever its outcome.
    forced_at: Option<Instant>,
}

/// Hands out [`ClerkSecrets`], caching Secrets Manager reads per warm instance.
pub struct SecretsProvider {
    source: Source,
    ttl: Duration,
    min_refresh_interval: Duration,
    failure_backoff: Duration,
    // Held across the fetch on purpose: concurrent callers wait for one fetch.
    state: Mutex<State>,
}

impl SecretsProvider {
    /// Reads the secret `arn` through a client made from `sdk`, with timeouts that fit
    /// inside a request, reusing a value for `ttl`.
    pub fn from_secret_arn(sdk: &aws_config::SdkConfig, arn: &str, ttl: Duration) -> Self {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(1))
            .operation_attempt_timeout(Duration::from_millis(1500))
            .operation_timeout(OPERATION_TIMEOUT)
            .build();
        let client_config = aws_sdk_secretsmanager::config::Builder::from(sdk)
            .timeout_config(timeouts)
            .build();
        Self::secrets_manager(
            aws_sdk_secretsmanager::Client::from_conf(client_config),
            arn,
            ttl,
        )
    }

    /// The values of the process environment, read once.
    pub fn from_env() -> Self {
        Self::fixed(ClerkSecrets::from_lookup(|name| std::env::var(name).ok()))
    }

    /// Always the same values (environment mode, tests).
    pub fn fixed(secrets: ClerkSecrets) -> Self {
        Self::new(Source::Fixed(Arc::new(secrets)), Duration::MAX)
    }

    /// Reads `secret_id` through `client`, reusing a value for `ttl`.
    pub fn secrets_manager(
        client: aws_sdk_secretsmanager::Client,
        secret_id: impl Into<String>,
        ttl: Duration,
    ) -> Self {
        let secret_id = secret_id.into();
        Self::new(Source::SecretsManager { client, secret_id }, ttl)
    }

    fn new(source: Source, ttl: Duration) -> Self {
        Self {
            source,
            ttl,
            min_refresh_interval: DEFAULT_MIN_REFRESH_INTERVAL,
            failure_backoff: DEFAULT_FAILURE_BACKOFF,
            state: Mutex::new(State::default()),
        }
    }

    /// Changes how close together forced refreshes may reach Secrets Manager.
    pub fn with_min_refresh_interval(mut self, interval: Duration) -> Self {
        self.min_refresh_interval = interval;
        self
    }

    /// Changes how long no read is tried after a failed one.
    pub fn with_failure_backoff(mut self, backoff: Duration) -> Self {
        self.failure_backoff = backoff;
        self
    }

    /// The secrets, from the cache while it is fresh; the values last read while Secrets
    /// Manager fails; an error only when nothing was ever read.
    pub async fn get(&self) -> Result<Arc<ClerkSecrets>, SecretsError> {
        self.load(false).await
    }

    /// The secrets, re-read at once (rate-limited as [`Self::refresh`]) when one of `vars` is
    /// malformed in those held: a bad paste fixed in Secrets Manager is picked up within the
    /// minimum refresh interval, not the TTL. What is still malformed is the caller's to
    /// log and answer.
    pub async fn get_well_formed(&self, vars: &[&str]) -> Result<Arc<ClerkSecrets>, SecretsError> {
        let held = self.get().await?;
        if held.first_malformed(vars).is_none() {
            return Ok(held);
        }
        self.refresh().await
    }

    /// The values from the process environment, when that is where they come from (read
    /// once, so they can be checked at start-up); `None` for Secrets Manager.
    pub fn environment_values(&self) -> Option<&ClerkSecrets> {
        match &self.source {
            Source::Fixed(values) => Some(values),
            Source::SecretsManager { .. } => None,
        }
    }

    /// Re-reads the secrets now (a rotation may have happened), unless they were read less
    /// than the minimum refresh interval (or the TTL, if shorter) ago, a forced re-read was
    /// tried within the minimum refresh interval whatever its outcome, or a read failed
    /// within the failure back-off: then this returns what [`Self::get`] would.
    pub async fn refresh(&self) -> Result<Arc<ClerkSecrets>, SecretsError> {
        self.load(true).await
    }

    async fn load(&self, forced: bool) -> Result<Arc<ClerkSecrets>, SecretsError> {
        let (client, secret_id) = match &self.source {
            Source::Fixed(value) => return Ok(Arc::clone(value)),
            Source::SecretsManager { client, secret_id } => (client, secret_id),
        };
        let mut state = self.state.lock().await;
        let age = state.cached.as_ref().map(|c| c.fetched_at.elapsed());
        let failing = state
            .failed
            .as_ref()
            .filter(|(at, _)| at.elapsed() < self.failure_backoff)
            .map(|(_, error)| error.clone());
        if forced {
            // Read within the window, forced or not: what is held is as fresh as a re-read.
            let recent = age.is_some_and(|a| a < self.min_refresh_interval.min(self.ttl));
            let forced_lately = state
                .forced_at
                .is_some_and(|at| at.elapsed() < self.min_refresh_interval);
            if !(recent || forced_lately || failing.is_some()) {
                state.forced_at = Some(Instant::now());
                return self.read(&mut state, client, secret_id).await;
            }
        }
        if let Some(cached) = &state.cached
            && age.is_some_and(|a| a < self.ttl)
        {
            return Ok(Arc::clone(&cached.value));
        }
        if let Some(error) = failing {
            return state.held_or(error);
        }
        self.read(&mut state, client, secret_id).await
    }

    async fn read(
        &self,
        state: &mut State,
        client: &aws_sdk_secretsmanager::Client,
        secret_id: &str,
    ) -> Result<Arc<ClerkSecrets>, SecretsError> {
        let fetched = fetch(client, secret_id).await;
        let result = if fetched.is_ok() { "ok" } else { "failed" };
        crate::metrics::count("SecretsReads", &[("Result", result)]);
        match fetched {
            Ok(value) => {
                for bad in &value.malformed {
                    // Named, never shown: the functions that use it answer so too.
                    tracing::warn!(
                        var = bad.var,
                        reason = bad.reason,
                        "a Clerk key in the secret is malformed"
                    );
                }
                let value = Arc::new(value);
                state.cached = Some(Cached {
                    value: Arc::clone(&value),
                    fetched_at: Instant::now(),
                });
                state.failed = None;
                Ok(value)
            }
            Err(error) => {
                tracing::warn!(%error, held = state.cached.is_some(), "secrets read failed");
                state.failed = Some((Instant::now(), error.clone()));
                state.held_or(error)
            }
        }
    }
}

impl State {
    /// The values last read, or `error` when there are none.
    fn held_or(&self, error: SecretsError) -> Result<Arc<ClerkSecrets>, SecretsError> {
        self.cached
            .as_ref()
            .map(|c| Arc::clone(&c.value))
            .ok_or(error)
    }
}

async fn fetch(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<ClerkSecrets, SecretsError> {
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| SecretsError::Unavailable(DisplayErrorContext(&e).to_string()))?;
    let text = out.secret_string().ok_or(SecretsError::NoSecretString)?;
    ClerkSecrets::from_json(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The development public key, on one line with literal `\n`s as a variable holds it.
    fn pem_one_line() -> String {
        include_str!("../../infra/dev/clerk-dev-key.pub.pem")
            .trim()
            .replace('\n', "\\n")
    }

    #[test]
    fn reads_the_environment_shape() {
        let pem = pem_one_line();
        let s = ClerkSecrets::from_lookup(|name| match name {
            SECRET_KEY_VAR => Some("sk_test_abc".into()),
            WEBHOOK_SECRET_VAR => Some("whsec_b25l, whsec_dHdv whsec_dGhyZWU=".into()),
            JWT_KEY_VAR => Some(pem.clone()),
            _ => None,
        });
        assert_eq!(
            s.secret_key.as_ref().map(Secret::expose),
            Some("sk_test_abc")
        );
        let hooks: Vec<_> = s.webhook_secrets.iter().map(Secret::expose).collect();
        assert_eq!(hooks, ["whsec_b25l", "whsec_dHdv", "whsec_dGhyZWU="]);
        assert_eq!(
            s.jwt_key.as_ref().map(Secret::expose),
            Some(include_str!("../../infra/dev/clerk-dev-key.pub.pem").trim())
        );
        assert_eq!(s.malformed, []);
    }

    #[test]
    fn malformed_keys_are_left_out_and_named() {
        // `.env.example`'s placeholders, and a truncated PEM.
        let s = ClerkSecrets::from_values(
            Some("sk_test_your-secret-key".into()),
            Some("whsec_your-webhook-secret".into()),
            Some("-----BEGIN PUBLIC KEY-----\\nMIIB\\n-----END PUBLIC KEY-----".into()),
        );
        assert_eq!(
            (&s.secret_key, &s.webhook_secrets, &s.jwt_key),
            (&None, &vec![], &None)
        );
        assert_eq!(
            s.malformed,
            [
                MalformedKey {
                    var: SECRET_KEY_VAR,
                    reason: "expected letters and digits after sk_test_ or sk_live_"
                },
                MalformedKey {
                    var: WEBHOOK_SECRET_VAR,
                    reason: "expected whsec_ followed by base64"
                },
                MalformedKey {
                    var: JWT_KEY_VAR,
                    reason: "not an RSA public key"
                },
            ]
        );
        assert_eq!(
            s.first_malformed(&[WEBHOOK_SECRET_VAR]),
            Some(s.malformed[1])
        );
        assert_eq!(s.first_malformed(&["OTHER"]), None);
    }

    #[test]
    fn a_rotation_keeps_its_well_formed_webhook_secrets() {
        let s = ClerkSecrets::from_values(None, Some("whsec_b25l oops whsec_dHdv".into()), None);
        let hooks: Vec<_> = s.webhook_secrets.iter().map(Secret::expose).collect();
        assert_eq!(hooks, ["whsec_b25l", "whsec_dHdv"]);
        assert_eq!(
            s.malformed(WEBHOOK_SECRET_VAR).map(|m| m.var),
            Some(WEBHOOK_SECRET_VAR)
        );
    }

    #[test]
    fn real_newlines_are_kept() {
        let pem = include_str!("../../infra/dev/clerk-dev-key.pub.pem");
        let s = ClerkSecrets::from_values(None, None, Some(pem.into()));
        assert_eq!(s.jwt_key.unwrap().expose(), pem.trim());
    }

    #[test]
    fn empty_values_are_absent() {
        let s = ClerkSecrets::from_values(Some(" ".into()), Some("".into()), None);
        assert_eq!(s, ClerkSecrets::default());
    }

    #[test]
    fn parses_json_secret_string() {
        let s = ClerkSecrets::from_json(
            r#"{"CLERK_SECRET_KEY":"sk_live_x","CLERK_WEBHOOK_SECRET":"whsec_b25l","OTHER":1}"#,
        )
        .unwrap();
        assert_eq!(s.secret_key.unwrap().expose(), "sk_live_x");
        assert_eq!(s.webhook_secrets.len(), 1);
        assert_eq!(s.jwt_key, None);
    }

    #[test]
    fn malformed_json_errors_never_quote_values() {
        let cases = [
            (
                r#"{"CLERK_SECRET_KEY": 42}"#,
                "CLERK_SECRET_KEY must be a string",
            ),
            (r#"["sk_live_leak"]"#, "expected a JSON object"),
            ("sk_live_leak", "not valid JSON (line 1, column 1)"),
        ];
        for (input, reason) in cases {
            let err = ClerkSecrets::from_json(input).unwrap_err();
            assert_eq!(err, SecretsError::Malformed(reason.to_owned()));
            assert!(!err.to_string().contains("leak"));
        }
    }

    #[test]
    fn debug_of_secrets_is_redacted() {
        let s = ClerkSecrets::from_values(
            Some("sk_test_abc".into()),
            Some("whsec_eHl6".into()),
            Some(pem_one_line()),
        );
        let shown = format!("{s:?}");
        assert!(!shown.contains("sk_test_abc"), "{shown}");
        assert!(!shown.contains("whsec_eHl6"), "{shown}");
        assert!(!shown.contains("MIIB"), "{shown}");
        assert!(shown.contains("[redacted]"));
        let bad = ClerkSecrets::from_values(Some("sk_test_leak-leak".into()), None, None);
        assert!(!format!("{bad:?}").contains("leak"));
    }

    #[tokio::test]
    async fn fixed_provider_returns_its_values() {
        let p = SecretsProvider::fixed(ClerkSecrets::from_values(
            Some("sk_test_x".into()),
            None,
            None,
        ));
        assert_eq!(
            p.get().await.unwrap().secret_key.as_ref().unwrap().expose(),
            "sk_test_x"
        );
        assert_eq!(
            p.refresh()
                .await
                .unwrap()
                .secret_key
                .as_ref()
                .unwrap()
                .expose(),
            "sk_test_x"
        );
        assert!(p.environment_values().is_some());
    }
}
