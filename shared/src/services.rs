//! What every function builds once per cold start: configuration, secrets, the user store,
//! an HTTP client for Clerk and a clock.

use std::sync::{Arc, OnceLock};

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigError};
use crate::keys::FetchError;
use crate::secrets::SecretsProvider;
use crate::store::UserStore;

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
            tracing::warn!(
                endpoint,
                "LOCAL_AWS_ENDPOINT_URL: every AWS call goes there"
            );
        }
        let sdk = crate::aws::sdk_config_at(config.local_endpoint.as_deref()).await;
        let store = UserStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.users_table()?);
        let secrets = SecretsProvider::from_config(&config, &sdk);
        Ok(Self::new(config, secrets, store, Arc::new(SystemClock)))
    }

    /// The HTTP client for Clerk (timeouts, no redirects, rustls); an error when it cannot
    /// be built (tried again on the next call).
    pub fn http(&self) -> Result<&reqwest::Client, FetchError> {
        if let Some(client) = self.http.get() {
            return Ok(client);
        }
        let client = crate::keys::http_client()?;
        Ok(self.http.get_or_init(|| client))
    }
}
