//! `users` binary: configuration and clients once per cold start, then the handler.

// The SDK's and runtime's nested futures exceed the default layout depth.
#![recursion_limit = "256"]

use std::sync::Arc;

use lambda_http::{Error, run, service_fn};
use shared::clock::SystemClock;
use shared::{Config, SecretsProvider, UserStore};
use users::{Users, handler};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = Config::from_env()?;
    if config.auth_disabled {
        tracing::warn!("AUTH_DISABLED=true: every request acts as the development user");
    }
    let sdk = shared::aws::sdk_config().await;
    let store = UserStore::new(aws_sdk_dynamodb::Client::new(&sdk), config.users_table()?);
    let secrets = SecretsProvider::from_config(&config, &sdk);
    let http = shared::keys::http_client();
    let users = Arc::new(Users::new(
        config,
        secrets,
        store,
        http,
        Arc::new(SystemClock),
    ));
    run(service_fn(move |request| {
        let users = Arc::clone(&users);
        async move { handler(&users, request).await }
    }))
    .await
}
