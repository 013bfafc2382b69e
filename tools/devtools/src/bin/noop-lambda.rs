//! The floor of the cold-start benchmark: a Lambda that echoes its event, built with the same
//! runtime, logging set-up and release profile as the functions.

use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shared::logging::init();
    run(service_fn(|event: LambdaEvent<Value>| async {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
