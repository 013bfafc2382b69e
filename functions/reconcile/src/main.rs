//! `reconcile` binary: configuration and clients once per cold start, then the handler.

// The SDK's and runtime's nested futures exceed the default layout depth.
#![recursion_limit = "256"]

use std::sync::Arc;

use lambda_runtime::{Error, run, service_fn};
use reconcile::{Reconciler, handler};
use shared::Services;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    shared::metrics::init("reconcile");
    let services = Services::from_env().await?;
    services.require_well_formed(reconcile::KEYS)?;
    let reconciler = Arc::new(Reconciler::new(services)?);
    run(service_fn(move |event| {
        let reconciler = Arc::clone(&reconciler);
        async move { handler(&reconciler, event).await }
    }))
    .await
}
