//! `webhook`: Clerk's (Svix-signed) webhook endpoint.
//!
//! Until event handling lands (issue #4) it answers 503 `not-implemented`: Svix retries
//! non-2xx deliveries, so no event is acknowledged and lost meanwhile.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    shared::Config::from_env()?;
    run(service_fn(|_event: LambdaEvent<Value>| async {
        Ok::<Value, Error>(json!({
            "statusCode": 503,
            "headers": { "content-type": "application/json" },
            "body": r#"{"code":"not-implemented"}"#,
        }))
    }))
    .await
}
