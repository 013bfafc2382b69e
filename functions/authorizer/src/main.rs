//! `authorizer` binary: configuration and clients once per cold start, then the handler.

// The SDK's and runtime's nested futures exceed the default layout depth.
#![recursion_limit = "256"]

use std::sync::Arc;

use authorizer::{Authorizer, handler};
use lambda_runtime::{Error, run, service_fn};
use shared::clock::SystemClock;
use shared::{Config, SecretsProvider, UserStore};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    if config.auth_disabled {
        tracing::warn!("AUTH_DISABLED=true: every request is allowed as the development user");
    }
    let sdk = shared::aws::sdk_config().await;
    let store = UserStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.users_table()?);
    let secrets = SecretsProvider::from_config(&config, &sdk);
    let http = shared::keys::http_client();
    let authorizer = Arc::new(Authorizer::new(
        config,
        secrets,
        store,
        http,
        Arc::new(SystemClock),
    ));
    // Secrets and keys load while the runtime asks for the first event, not before.
    tokio::spawn({
        let authorizer = Arc::clone(&authorizer);
        async move { authorizer.warm_up().await }
    });
    run(service_fn(move |event| {
        let authorizer = Arc::clone(&authorizer);
        async move { handler(&authorizer, event).await }
    }))
    .await
}
