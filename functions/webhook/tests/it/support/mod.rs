//! Test support: signed API Gateway v2 deliveries and a webhook over a fresh moto table.

use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use shared::clock::{Clock, ManualClock};
use shared::svix::WebhookSecret;
use shared::{ClerkSecrets, SecretsProvider, Services, UserStore};
use webhook::{Webhook, handler};

pub const SECRET: &str = "whsec_bG9jYWwtZGV2ZWxvcG1lbnQtd2ViaG9vay1zZWNyZXQ=";
pub use testkit::NOW;
const BASE: &str = include_str!("../../data/apigw_v2_post.json");

pub struct Fixture {
    pub webhook: Webhook,
    pub store: UserStore,
    pub clock: Arc<ManualClock>,
}

pub async fn fixture(vars: &[(&str, &str)]) -> Fixture {
    let store = testkit::fresh_store().await;
    let secrets = SecretsProvider::fixed(ClerkSecrets::from_lookup(|name| {
        (name == "CLERK_WEBHOOK_SECRET").then(|| SECRET.to_owned())
    }));
    with_secrets(store, secrets, vars)
}

pub fn with_secrets(store: UserStore, secrets: SecretsProvider, vars: &[(&str, &str)]) -> Fixture {
    // Overrides first: the lookup takes the first match.
    let mut all: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    all.push(("USERS_TABLE".to_owned(), store.table().to_owned()));
    let config = testkit::config(&all);
    let clock = testkit::clock();
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    Fixture {
        webhook: Webhook::new(Services::new(config, secrets, store.clone(), dyn_clock)),
        store,
        clock,
    }
}

/// An API Gateway v2 proxy event carrying `body` with exactly these headers added.
pub fn request(body: &str, headers: &[(&str, &str)], base64: bool) -> ApiGatewayV2httpRequest {
    let mut event: Value = serde_json::from_str(BASE).unwrap();
    event["body"] = json!(body);
    event["isBase64Encoded"] = json!(base64);
    for (name, value) in headers {
        event["headers"][*name] = json!(value);
    }
    serde_json::from_value(event).unwrap()
}

/// A delivery signed with `secret` at `ts`.
pub fn signed_with(secret: &str, id: &str, ts: i64, body: &str) -> ApiGatewayV2httpRequest {
    let signature = WebhookSecret::parse(secret)
        .unwrap()
        .sign(id, ts, body.as_bytes());
    let ts = ts.to_string();
    request(
        body,
        &[
            ("svix-id", id),
            ("svix-timestamp", &ts),
            ("svix-signature", &signature),
        ],
        false,
    )
}

/// A delivery signed now with the test secret.
pub fn signed(id: &str, body: &str) -> ApiGatewayV2httpRequest {
    signed_with(SECRET, id, NOW, body)
}

/// Runs the handler; returns the status and the reason code.
pub async fn send(webhook: &Webhook, request: ApiGatewayV2httpRequest) -> (i64, String) {
    let response = handler(webhook, LambdaEvent::new(request, Context::default()))
        .await
        .unwrap();
    assert_eq!(
        response
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    // Svix stops retrying exactly the answers no retry can change.
    let status = u16::try_from(response.status_code).unwrap();
    assert_eq!(
        response
            .headers
            .get("webhook-delivery")
            .and_then(|v| v.to_str().ok()),
        webhook::is_permanent(status).then_some("abort-message"),
        "status {status}"
    );
    let body = match response.body {
        Some(aws_lambda_events::encodings::Body::Text(text)) => text,
        other => panic!("unexpected body {other:?}"),
    };
    let json: Value = serde_json::from_str(&body).unwrap();
    (
        response.status_code,
        json["code"].as_str().unwrap().to_owned(),
    )
}

/// A `user.created` / `user.updated` body in Clerk's shape.
pub fn user_event(
    kind: &str,
    id: &str,
    email: Option<&str>,
    username: Option<&str>,
    updated_at: i64,
) -> String {
    let addresses: Vec<Value> = email
        .map(|e| {
            json!({
                "id": "idn_1", "email_address": e, "object": "email_address", "linked_to": [],
                "verification": { "status": "verified", "strategy": "email_code" },
            })
        })
        .into_iter()
        .collect();
    json!({
        "type": kind,
        "object": "event",
        "instance_id": "ins_test",
        "timestamp": updated_at,
        "data": {
            "object": "user",
            "id": id,
            "username": username,
            "first_name": "Ann",
            "last_name": format!("v{updated_at}"),
            "image_url": "https://img.clerk.com/a",
            "email_addresses": addresses,
            "primary_email_address_id": "idn_1",
            "public_metadata": {},
            "created_at": 1_000,
            "updated_at": updated_at,
        }
    })
    .to_string()
}

/// A `user.deleted` body; `timestamp` in seconds, as Clerk's spec example has it.
pub fn deleted_event(id: &str, timestamp: i64) -> String {
    json!({
        "type": "user.deleted",
        "object": "event",
        "timestamp": timestamp,
        "data": { "object": "user", "id": id, "deleted": true }
    })
    .to_string()
}
