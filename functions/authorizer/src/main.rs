//! `authorizer`: the API Gateway Lambda authorizer.
//!
//! Until token verification lands (issue #3) it fails closed: every request is denied.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // Fail at cold start, with the variable's name, rather than on every request.
    shared::Config::from_env()?;
    run(service_fn(|_event: LambdaEvent<Value>| async {
        // API Gateway turns exactly this message into 401 on every flavour.
        Err::<Value, Error>("Unauthorized".into())
    }))
    .await
}
