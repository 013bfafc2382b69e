//! `users`: user queries and admin management behind the authorizer.
//!
//! Until the routes land (issue #5) every request gets 501 `not-implemented`.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    shared::Config::from_env()?;
    run(service_fn(|_event: LambdaEvent<Value>| async {
        Ok::<Value, Error>(json!({
            "statusCode": 501,
            "headers": { "content-type": "application/problem+json" },
            "body": r#"{"code":"not-implemented","status":501}"#,
        }))
    }))
    .await
}
