//! `users` binary: configuration and clients once per cold start, then the handler.

// The SDK's and runtime's nested futures exceed the default layout depth.
#![recursion_limit = "256"]

use std::sync::Arc;

use lambda_http::{Error, run, service_fn};
use shared::Services;
use users::{Users, handler};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    let users = Arc::new(Users::new(Services::from_env().await?));
    run(service_fn(move |request| {
        let users = Arc::clone(&users);
        async move { handler(&users, request).await }
    }))
    .await
}
