//! `users` binary: configuration and clients once per cold start, then the handler.

// The SDK's and runtime's nested futures exceed the default layout depth.
#![recursion_limit = "256"]

use std::sync::Arc;

use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Error, LambdaEvent, Service as _, lambda_runtime, service_fn};
use shared::Services;
use users::{Users, event, handler};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    shared::metrics::init("users");
    let services = Services::from_env().await?;
    services.require_well_formed(users::KEYS)?;
    let users = Arc::new(Users::new(services));
    // lambda_http's own `run`, with every event made safe to convert first (see `event`).
    let mut adapter = Adapter::from(service_fn(move |request| {
        let users = Arc::clone(&users);
        async move { handler(&users, request).await }
    }));
    lambda_runtime::run(service_fn(
        move |mut invocation: LambdaEvent<LambdaRequest>| {
            event::sanitize(&mut invocation.payload);
            adapter.call(invocation)
        },
    ))
    .await
}
