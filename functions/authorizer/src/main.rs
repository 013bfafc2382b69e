//! `authorizer` binary: configuration and clients once per cold start, then the handler.

// The SDK's and runtime's nested futures exceed the default layout depth.
#![recursion_limit = "256"]

use std::sync::Arc;

use authorizer::{Authorizer, handler};
use lambda_runtime::{Error, run, service_fn};
use shared::Services;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    shared::metrics::init("authorizer");
    let services = Services::from_env().await?;
    authorizer::check_config(&services.config)?;
    services.require_well_formed(authorizer::KEYS)?;
    let authorizer = Arc::new(Authorizer::new(services));
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
