//! The real `webhook` binary, driven through the Lambda runtime API (tools/devtools), with
//! the local stack's secret (Secrets Manager on moto) and a fresh table.

use crate::support;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use devtools::{Function, RuntimeApi};
use serde_json::Value;
use support::{SECRET, signed_with, user_event};

const TIMEOUT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_stores_a_signed_delivery() {
    assert!(
        std::env::var("CLERK_SECRET_ARN").is_ok(),
        "run through the local stack: its secret holds the development webhook secret"
    );
    let store = testkit::fresh_store().await;
    let env = vec![("USERS_TABLE".to_owned(), store.table().to_owned())];
    let api = RuntimeApi::start().await.unwrap();
    let log = std::env::temp_dir().join(format!("webhook-bin-{}.log", std::process::id()));
    let function = Function::spawn(
        Path::new(env!("CARGO_BIN_EXE_webhook")),
        &api,
        &env,
        Some(&log),
    )
    .unwrap();
    api.wait_ready(TIMEOUT).await.unwrap();

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let body = user_event(
        "user.created",
        "user_bin",
        Some("bin@example.com"),
        Some("bin"),
        1_000,
    );
    let event = serde_json::to_value(signed_with(SECRET, "msg_bin", now, &body)).unwrap();
    let answer = api.invoke(event.clone(), TIMEOUT).await.unwrap();
    assert!(answer.ok);
    assert_eq!(answer.body["statusCode"], 200);
    let code: Value = serde_json::from_str(answer.body["body"].as_str().unwrap()).unwrap();
    assert_eq!(code["code"], "created");
    assert_eq!(
        store
            .get_by_email("bin@example.com")
            .await
            .unwrap()
            .unwrap()
            .clerk_user_id,
        "user_bin"
    );

    let again = api.invoke(event, TIMEOUT).await.unwrap();
    let code: Value = serde_json::from_str(again.body["body"].as_str().unwrap()).unwrap();
    assert_eq!(code["code"], "duplicate");
    function.stop().await;
    // Each answer counted as a metric (EMF), by status and code.
    let logged = std::fs::read_to_string(&log).unwrap();
    for code in ["created", "duplicate"] {
        let counted = testkit::emf_count(
            &logged,
            "WebhookAnswers",
            &[("Function", "webhook"), ("Status", "200"), ("Code", code)],
        );
        assert_eq!(counted, 1, "{code}: {logged}");
    }

    assert_eq!(
        testkit::emf_count(&logged, "WebhookErrors", &[]),
        0,
        "no 5xx yet"
    );

    // The table unreachable: a 500 Svix retries, counted for the alarm.
    let env = vec![("USERS_TABLE".to_owned(), "no-such-table".to_owned())];
    let api = RuntimeApi::start().await.unwrap();
    let broken =
        std::env::temp_dir().join(format!("webhook-bin-broken-{}.log", std::process::id()));
    let function = Function::spawn(
        Path::new(env!("CARGO_BIN_EXE_webhook")),
        &api,
        &env,
        Some(&broken),
    )
    .unwrap();
    api.wait_ready(TIMEOUT).await.unwrap();
    let event = serde_json::to_value(signed_with(SECRET, "msg_bin_2", now, &body)).unwrap();
    let answer = api.invoke(event, TIMEOUT).await.unwrap();
    assert_eq!(answer.body["statusCode"], 500, "{}", answer.body);
    function.stop().await;
    let logged = std::fs::read_to_string(&broken).unwrap();
    assert_eq!(
        testkit::emf_count(&logged, "WebhookErrors", &[("Function", "webhook")]),
        1,
        "{logged}"
    );
    assert_eq!(
        testkit::emf_count(
            &logged,
            "WebhookAnswers",
            &[("Status", "500"), ("Code", "store-unavailable")]
        ),
        1,
        "{logged}"
    );
}
