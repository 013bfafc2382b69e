//! `webhook` binary: configuration and clients once per cold start, then the handler.

// The SDK's and runtime's nested futures exceed the default layout depth.
#![recursion_limit = "256"]

use std::sync::Arc;

use lambda_runtime::{Error, run, service_fn};
use shared::clock::SystemClock;
use shared::{Config, SecretsProvider, UserStore};
use webhook::{Webhook, handler};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    let sdk = shared::aws::sdk_config().await;
    let store = UserStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.users_table()?);
    let secrets = SecretsProvider::from_config(&config, &sdk);
    let webhook = Arc::new(Webhook::new(config, secrets, store, Arc::new(SystemClock)));
    run(service_fn(move |event| {
        let webhook = Arc::clone(&webhook);
        async move { handler(&webhook, event).await }
    }))
    .await
}
