//! Fuzz: signed Clerk deliveries as API Gateway sends them, mutated (byte flips, truncation,
//! type swaps, huge and nested values, extra and repeated headers), through the handler into
//! DynamoDB (moto). Nothing panics; no answer is a 5xx while the store is up; nothing is
//! written unless the signed id, timestamp, signature and body are intact. `FUZZ_CASES`
//! sets the case count (`make fuzz`).

use crate::support;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use devtools::fuzz::{cases, mutated, mutations};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestRunner};
use shared::svix::SignedHeaders;
use support::{fixture, send, signed, user_event};

/// What the signature covers, read as the handler reads it.
fn signed_parts(request: &ApiGatewayV2httpRequest) -> Option<(String, String, String, String)> {
    let headers = &request.headers;
    let signed =
        SignedHeaders::from_lookup(|name| headers.get(name).and_then(|v| v.to_str().ok())).ok()?;
    let body = format!("{}:{}", request.is_base64_encoded, request.body.as_deref()?);
    Some((
        signed.id.to_owned(),
        signed.timestamp.to_owned(),
        signed.signature.to_owned(),
        body,
    ))
}

async fn items(client: &aws_sdk_dynamodb::Client, table: &str) -> i32 {
    client
        .scan()
        .table_name(table)
        .select(aws_sdk_dynamodb::types::Select::Count)
        .send()
        .await
        .unwrap()
        .count()
}

#[test]
fn mutated_deliveries_are_never_5xx_and_write_nothing_unless_intact() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (f, client) = runtime.block_on(async {
        let client = aws_sdk_dynamodb::Client::new(&testkit::local_stack_sdk_config().await);
        (fixture(&[]).await, client)
    });
    let original = signed(
        "msg_fuzz",
        &user_event(
            "user.created",
            "user_fuzz",
            Some("fuzz@example.com"),
            Some("fuzz"),
            1_000,
        ),
    );
    let event = serde_json::to_value(&original).unwrap();
    let intact = signed_parts(&original);
    let mut runner = TestRunner::new(RunnerConfig {
        cases: cases(),
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    runner
        .run(&mutations(), |changes| {
            let changed = mutated(&event, &changes);
            // API Gateway only sends events of this shape; the runtime refuses the others.
            let Ok(request) = serde_json::from_value::<ApiGatewayV2httpRequest>(changed) else {
                return Ok(());
            };
            let untouched = signed_parts(&request) == intact;
            runtime.block_on(async {
                let before = items(&client, f.store.table()).await;
                let (status, code) = send(&f.webhook, request).await;
                prop_assert!(status < 500, "{status} {code}");
                if !untouched {
                    prop_assert!(status >= 400, "{status} {code}");
                    prop_assert_eq!(items(&client, f.store.table()).await, before);
                }
                Ok(())
            })
        })
        .unwrap();
    // The unmutated delivery is accepted (unless a case with only unsigned parts changed
    // already delivered it): the property above is not vacuous.
    let (status, code) = runtime.block_on(send(&f.webhook, original));
    assert!(
        status == 200 && matches!(code.as_str(), "created" | "duplicate"),
        "{status} {code}"
    );
}
