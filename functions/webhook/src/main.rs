//! `webhook` binary: configuration and clients once per cold start, then the handler.

// The SDK's and runtime's nested futures exceed the default layout depth.
#![recursion_limit = "256"]

use std::sync::Arc;

use lambda_runtime::{Error, run, service_fn};
use shared::Services;
use webhook::{Webhook, handler};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    shared::metrics::init("webhook");
    let services = Services::from_env().await?;
    services.require_well_formed(webhook::KEYS)?;
    let webhook = Arc::new(Webhook::new(services));
    run(service_fn(move |event| {
        let webhook = Arc::clone(&webhook);
        async move { handler(&webhook, event).await }
    }))
    .await
}
