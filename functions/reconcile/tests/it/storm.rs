//! The concurrency storm, with a reconciliation in it: a run pages Clerk while webhook
//! deliveries of the same users (old and new states, duplicates, deletions, emails changing
//! hands) land at once, every DynamoDB request applied one at a time in random interleavings
//! (the serializing proxy, as DynamoDB isolates them). Nothing is lost or reverted: the
//! table ends as the perfect webhook history leaves it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use shared::clock::{Clock, SystemClock};
use shared::svix::WebhookSecret;
use shared::{ClerkSecrets, SecretsProvider, Services, UserStore};
use testkit::bapi::{FakeUsers, clerk_user};

use crate::support::{SECRET_KEY, deliver, mirrored};

const WEBHOOK_SECRET: &str = "whsec_bG9jYWwtZGV2ZWxvcG1lbnQtd2ViaG9vay1zZWNyZXQ=";
const USERS: usize = 150;
const T0: i64 = 1_700_000_000_000;

fn services(store: &UserStore, clerk: &FakeUsers) -> Services {
    let config = testkit::config(&[
        ("USERS_TABLE", store.table()),
        ("CLERK_API_URL", &clerk.url()),
        ("RECONCILE_REQUESTS_PER_SECOND", "1000"),
        ("RECONCILE_PAGE_SIZE", "20"),
    ]);
    let secrets = SecretsProvider::fixed(ClerkSecrets::from_lookup(|name| match name {
        "CLERK_SECRET_KEY" => Some(SECRET_KEY.to_owned()),
        "CLERK_WEBHOOK_SECRET" => Some(WEBHOOK_SECRET.to_owned()),
        _ => None,
    }));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    Services::new(config, secrets, store.clone(), clock)
}

/// A signed delivery of `body` as API Gateway hands it to the webhook.
fn delivery(id: &str, body: &Value) -> ApiGatewayV2httpRequest {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let body = body.to_string();
    let signature = WebhookSecret::parse(WEBHOOK_SECRET)
        .unwrap()
        .sign(id, now, body.as_bytes());
    serde_json::from_value(json!({
        "version": "2.0", "routeKey": "POST /auth/clerk/webhook", "rawPath": "/auth/clerk/webhook",
        "rawQueryString": "", "isBase64Encoded": false, "body": body,
        "headers": { "svix-id": id, "svix-timestamp": now.to_string(), "svix-signature": signature,
                     "content-type": "application/json" },
        "requestContext": { "http": { "method": "POST", "path": "/auth/clerk/webhook" } }
    }))
    .unwrap()
}

fn event(kind: &str, data: &Value) -> Value {
    json!({ "type": kind, "object": "event", "timestamp": data["updated_at"].clone(), "data": data })
}

/// User `i`'s state at `version` (1 or 2): version 2 of every tenth user has moved its email
/// to the next user, who took a new one.
fn state(i: usize, version: i64) -> Value {
    let email = match (i % 10, version) {
        (0, 2) => format!("n{i}@example.com"),
        (1, 2) => format!("u{}@example.com", i - 1),
        _ => format!("u{i}@example.com"),
    };
    let stamp = T0 + 1_000_000 * version + i as i64;
    clerk_user(
        &format!("user_{i:04}"),
        Some(&email),
        &format!("u{i}"),
        T0 + i as i64,
        stamp,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_beside_webhook_deliveries_converges() {
    let (proxy, store) = testkit::serial_store().await;
    proxy.set_jitter(Duration::from_millis(1));
    let clerk = FakeUsers::start(SECRET_KEY).await;
    // Half the users were delivered here once (version 1); Clerk has version 2 of all but
    // the deleted (every seventh).
    for i in 0..USERS {
        if i % 2 == 0 {
            deliver(&store, &state(i, 1)).await;
        }
        if i % 7 != 3 {
            clerk.put(state(i, 2));
        }
    }
    let webhook = Arc::new(webhook::Webhook::new(services(&store, &clerk)));
    let reconciler = Arc::new(reconcile::Reconciler::new(services(&store, &clerk)).unwrap());

    // Every user's events, twice each, in an order mixing old and new.
    let mut deliveries = Vec::new();
    for i in 0..USERS {
        deliveries.push((format!("msg_{i}_2"), event("user.updated", &state(i, 2))));
        deliveries.push((format!("msg_{i}_1"), event("user.created", &state(i, 1))));
        if i % 7 == 3 {
            let deleted = json!({ "type": "user.deleted", "object": "event", "timestamp": T0 + 3_000_000,
                                  "data": { "object": "user", "id": format!("user_{i:04}"), "deleted": true } });
            deliveries.push((format!("msg_{i}_d"), deleted));
        }
    }
    let duplicates: Vec<_> = deliveries.iter().step_by(3).cloned().collect();
    deliveries.extend(duplicates);

    let run = {
        let reconciler = Arc::clone(&reconciler);
        tokio::spawn(async move {
            let deadline = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64
                + 120_000;
            reconciler.run("storm-run", deadline).await
        })
    };
    // Last users first, a few at a time: the run's first pages meet users no delivery has
    // brought yet, its last pages users the deliveries brought already.
    deliveries.reverse();
    let mut statuses = Vec::new();
    for wave in deliveries.chunks(6) {
        let mut set = tokio::task::JoinSet::new();
        for (id, body) in wave {
            let (id, body) = (id.clone(), body.clone());
            let webhook = Arc::clone(&webhook);
            set.spawn(async move {
                let request = delivery(&id, &body);
                let answer =
                    webhook::handler(&webhook, LambdaEvent::new(request, Context::default()))
                        .await
                        .unwrap();
                answer.status_code
            });
        }
        statuses.extend(set.join_all().await);
    }
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let (outcome, summary) = run.await.unwrap();
    assert_eq!(outcome, reconcile::Outcome::Complete, "{summary:?}");
    // It read every user Clerk has, wrote some and found others written already.
    assert_eq!(summary.scanned as usize, clerk.users().len(), "{summary:?}");
    assert!(summary.created + summary.updated > 0, "{summary:?}");
    assert!(summary.unchanged > 0, "{summary:?}");

    // The perfect history: each user's last state, then the deletions.
    let perfect = testkit::fresh_store().await;
    for user in clerk.users() {
        deliver(&perfect, &user).await;
    }
    for i in (0..USERS).filter(|i| i % 7 == 3) {
        perfect
            .deactivate(&format!("user_{i:04}"), T0)
            .await
            .unwrap();
    }
    let (got, want) = (mirrored(&store).await, mirrored(&perfect).await);
    assert_eq!(got.len(), USERS);
    for (id, expected) in &want {
        assert_eq!(got.get(id), Some(expected), "{id}");
    }
}
