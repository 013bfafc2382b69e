//! What every function builds once per cold start: configuration, secrets, the user store,
//! an HTTP client for Clerk and a clock. The composition root: the one module that turns the
//! configuration into the parts (`keys`, `token`, `secrets` know no environment variable).

use std::sync::{Arc, OnceLock};

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigError};
use crate::http::FetchError;
use crate::key_shape::MalformedKey;
use crate::keys::{CachePolicy, KeyError, KeySource};
use crate::secrets::{ClerkSecrets, JWT_KEY_VAR, SECRET_KEY_VAR, SecretsProvider};
use crate::store::UserStore;
use crate::token::{Keys, Rules, Verifier};

/// The shared dependencies of the functions' handlers.
pub struct Services {
    /// Configuration from the environment.
    pub config: Config,
    /// Clerk's secrets.
    pub secrets: SecretsProvider,
    /// The users table.
    pub store: UserStore,
    /// Time.
    pub clock: Arc<dyn Clock>,
    // Built on first use: not every function calls Clerk, and it need not sit in init.
    http: OnceLock<reqwest::Client>,
}

impl Services {
    /// Assembles services from parts (tests, other runtimes).
    pub fn new(
        config: Config,
        secrets: SecretsProvider,
        store: UserStore,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            config,
            secrets,
            store,
            clock,
            http: OnceLock::new(),
        }
    }

    /// Reads the environment and builds the AWS clients. No network I/O: secrets and keys
    /// are fetched on first use. Logs a warning when `AUTH_DISABLED` is on.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let config = Config::from_env().inspect_err(|error| {
            // The runtime prints only the error's Debug form; this names the variable.
            tracing::error!(%error, "configuration refused; not starting");
        })?;
        if config.auth_disabled {
            tracing::warn!("AUTH_DISABLED=true: every request acts as the development user");
        }
        if let Some(endpoint) = &config.local_endpoint {
            tracing::warn!(endpoint, "every AWS call goes to this local endpoint");
        }
        let sdk = crate::aws::sdk_config_at(config.local_endpoint.as_deref()).await;
        let store = UserStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.users_table()?);
        let secrets = secrets_provider(&config, &sdk);
        Ok(Self::new(config, secrets, store, Arc::new(SystemClock)))
    }

    /// Refuses to start when one of `vars` (the keys this function uses) is given in the
    /// environment but malformed, naming the variable; keys from Secrets Manager are
    /// checked on each load instead (no network I/O at start-up).
    pub fn require_well_formed(&self, vars: &[&str]) -> Result<(), ConfigError> {
        let Some(bad) = self
            .secrets
            .environment_values()
            .and_then(|values| values.first_malformed(vars))
        else {
            return Ok(());
        };
        let error = ConfigError::Malformed {
            var: bad.var,
            reason: bad.reason.to_owned(),
        };
        tracing::error!(%error, "configuration refused; not starting");
        Err(error)
    }

    /// The HTTP client for Clerk (timeouts, no redirects, rustls); an error when it cannot
    /// be built (tried again on the next call).
    pub fn http(&self) -> Result<&reqwest::Client, FetchError> {
        if let Some(client) = self.http.get() {
            return Ok(client);
        }
        let client = crate::http::client()?;
        Ok(self.http.get_or_init(|| client))
    }
}

/// Why a [`Verifier`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// A configuration variable is missing or malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// `CLERK_JWT_KEY` is unusable.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The key the verifier would use is given but malformed (see [`crate::key_shape`]).
    #[error(transparent)]
    Malformed(#[from] MalformedKey),
}

/// Secrets Manager when `CLERK_SECRET_ARN` is set, else the process environment.
pub fn secrets_provider(config: &Config, sdk: &aws_config::SdkConfig) -> SecretsProvider {
    match &config.secret_arn {
        Some(arn) => SecretsProvider::from_secret_arn(sdk, arn, config.secrets_cache_ttl)
            .with_min_refresh_interval(config.secrets_refresh_interval),
        None => SecretsProvider::from_env(),
    }
}

/// Where keys come from, by the documented order of precedence. A malformed key where it
/// would be used is an error, never a silent fall-through to the next source.
pub fn key_source(config: &Config, secrets: &ClerkSecrets) -> Result<KeySource, SetupError> {
    if let Some(bad) = secrets.malformed(JWT_KEY_VAR) {
        return Err(bad.into());
    }
    if let Some(pem) = &secrets.jwt_key {
        return Ok(KeySource::Pem(pem.clone()));
    }
    if let Some(url) = &config.jwks_url {
        return Ok(KeySource::Jwks {
            url: url.clone(),
            bearer: None,
        });
    }
    if let Some(bad) = secrets.malformed(SECRET_KEY_VAR) {
        return Err(bad.into());
    }
    if let Some(secret_key) = &secrets.secret_key {
        return Ok(KeySource::Jwks {
            url: format!("{}/v1/jwks", config.api_url),
            bearer: Some(secret_key.clone()),
        });
    }
    Ok(KeySource::Jwks {
        url: config.publishable_key()?.jwks_url(),
        bearer: None,
    })
}

/// The verifier the configuration describes (key source, issuer, parties, audience…).
pub fn verifier(
    config: &Config,
    secrets: &ClerkSecrets,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
) -> Result<Verifier, SetupError> {
    let seconds = |d: std::time::Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let rules = Rules {
        issuer: config.issuer()?,
        authorized_parties: config.authorized_parties.clone(),
        audience: config.audience.clone(),
        clock_skew_seconds: seconds(config.clock_skew),
        allow_pending_sessions: config.allow_pending_sessions,
        allow_missing_sid: config.allow_missing_sid,
        max_lifetime_seconds: seconds(config.max_token_lifetime),
    };
    let policy = CachePolicy {
        ttl: config.jwks_cache_ttl,
        ..CachePolicy::default()
    };
    let source = key_source(config, secrets)?;
    let keys = Keys::from_source(source, http, policy, Arc::clone(&clock))?;
    Ok(Verifier::new(keys, rules, clock))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Secret;

    #[test]
    fn source_precedence() {
        let pk = "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k";
        let config = |jwks: Option<&str>| {
            Config::from_lookup(|name| match name {
                "CLERK_PUBLISHABLE_KEY" => Some(pk.into()),
                "CLERK_JWKS_URL" => jwks.map(Into::into),
                _ => None,
            })
            .unwrap()
        };
        let secrets = |sk: Option<&str>, pem: Option<&str>| {
            ClerkSecrets::from_lookup(|name| match name {
                "CLERK_SECRET_KEY" => sk.map(Into::into),
                "CLERK_JWT_KEY" => pem.map(Into::into),
                _ => None,
            })
        };
        let pem = include_str!("../../infra/dev/clerk-dev-key.pub.pem");
        assert_eq!(
            key_source(
                &config(Some("https://k.example/jwks")),
                &secrets(Some("sk_test_1"), Some(pem))
            ),
            Ok(KeySource::Pem(Secret::new(pem.trim())))
        );
        assert_eq!(
            key_source(
                &config(Some("https://k.example/jwks")),
                &secrets(Some("sk_test_1"), None)
            ),
            Ok(KeySource::Jwks {
                url: "https://k.example/jwks".into(),
                bearer: None
            })
        );
        assert_eq!(
            key_source(&config(None), &secrets(Some("sk_test_1"), None)),
            Ok(KeySource::Jwks {
                url: "https://api.clerk.com/v1/jwks".into(),
                bearer: Some(Secret::new("sk_test_1"))
            })
        );
        assert_eq!(
            key_source(&config(None), &secrets(None, None)),
            Ok(KeySource::Jwks {
                url: "https://clerk.example.com/.well-known/jwks.json".into(),
                bearer: None
            })
        );
        let bare = Config::from_lookup(|_| None).unwrap();
        assert_eq!(
            key_source(&bare, &secrets(None, None)),
            Err(SetupError::Config(ConfigError::Missing {
                var: "CLERK_PUBLISHABLE_KEY"
            }))
        );
    }

    #[test]
    fn a_malformed_key_is_an_error_where_it_would_be_used() {
        let config = Config::from_lookup(|name| {
            (name == "CLERK_PUBLISHABLE_KEY").then(|| "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k".into())
        })
        .unwrap();
        let secrets = |sk: &str, pem: Option<&str>| {
            ClerkSecrets::from_lookup(|name| match name {
                "CLERK_SECRET_KEY" => Some(sk.into()),
                "CLERK_JWT_KEY" => pem.map(Into::into),
                _ => None,
            })
        };
        let bad_pem = Err(SetupError::Malformed(MalformedKey {
            var: "CLERK_JWT_KEY",
            reason: "no BEGIN PUBLIC KEY line",
        }));
        assert_eq!(
            key_source(&config, &secrets("sk_test_1", Some("oops"))),
            bad_pem
        );
        assert_eq!(
            key_source(&config, &secrets("sk_test_your-key", None)),
            Err(SetupError::Malformed(MalformedKey {
                var: "CLERK_SECRET_KEY",
                reason: "expected letters and digits after sk_test_ or sk_live_",
            }))
        );
        // A PEM makes the secret key irrelevant to the verifier.
        let pem = include_str!("../../infra/dev/clerk-dev-key.pub.pem");
        assert!(matches!(
            key_source(&config, &secrets("sk_test_your-key", Some(pem))),
            Ok(KeySource::Pem(_))
        ));
    }
}
