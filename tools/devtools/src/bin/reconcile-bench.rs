//! `make bench` (reconciliation): wall time and DynamoDB writes per 1,000 users of a run of
//! the real `reconcile` binary on the local stack, against its floor measured in the same
//! run: one write per changed user, each written straight from Clerk's data (the webhook's
//! path, `mirror_user`, with nothing listed or checked).
//!
//! Three tables of 1,000 users: empty (a backfill: every user changes), 10 % stale, and
//! current (nothing changes). Every DynamoDB request goes through a counting proxy.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use devtools::{Function, RuntimeApi};
use serde_json::{Value, json};
use shared::UserStore;
use shared::clerk::{self, ClerkUser};
use testkit::bapi::{FakeUsers, clerk_user};
use testkit::serial_proxy::SerialProxy;

const USERS: usize = 1_000;
const KEY: &str = "sk_test_reconcile0bench";
const WRITES: [&str; 4] = ["TransactWriteItems", "PutItem", "UpdateItem", "DeleteItem"];

fn user(i: usize, stamp: i64) -> Value {
    clerk_user(
        &format!("user_{i:05}"),
        Some(&format!("u{i}@example.com")),
        &format!("u{i}"),
        1_700_000_000_000 + i as i64,
        stamp,
    )
}

async fn mirror(store: &UserStore, user: &Value) {
    let user: ClerkUser = serde_json::from_value(user.clone()).unwrap();
    shared::mirror::mirror_user(store, &user, 0, clerk::new_user_flags(true))
        .await
        .unwrap();
}

/// A fresh table seen directly and through a new counting proxy.
async fn table() -> (UserStore, SerialProxy, UserStore) {
    let sdk = testkit::local_stack_sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let name = testkit::fresh_table(&client).await;
    let upstream = std::env::var("AWS_ENDPOINT_URL").expect("run through the local stack");
    let proxy = SerialProxy::start(&upstream, 1).await.unwrap();
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .endpoint_url(proxy.endpoint(0))
        .build();
    let counted = UserStore::new(aws_sdk_dynamodb::Client::from_conf(config), name.clone());
    (UserStore::new(client, name), proxy, counted)
}

fn writes(
    before: &BTreeMap<String, usize>,
    after: &BTreeMap<String, usize>,
) -> BTreeMap<String, usize> {
    after
        .iter()
        .map(|(op, n)| (op.clone(), n - before.get(op).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn total(ops: &BTreeMap<String, usize>, names: &[&str]) -> usize {
    names
        .iter()
        .map(|n| ops.get(*n).copied().unwrap_or(0))
        .sum()
}

#[tokio::main]
async fn main() {
    let root = devtools::workspace();
    let release = root.join("target/release/reconcile");
    let binary = if release.exists() {
        release
    } else {
        root.join("target/debug/reconcile")
    };
    println!(
        "reconcile-bench: {} users per run, {}",
        USERS,
        binary.display()
    );
    println!(
        "| table before the run | changed users | run: wall time | DynamoDB writes (user / checkpoint) | writes ÷ floor | reads | floor: wall time | time ÷ floor |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (label, stale_every) in [
        ("empty (backfill)", None),
        ("10 % stale", Some(10)),
        ("current", Some(0)),
    ] {
        let clerk = FakeUsers::start(KEY).await;
        let (direct, proxy, _) = table().await;
        let mut changed = Vec::new();
        for i in 0..USERS {
            let now = user(i, 1_700_100_000_000 + i as i64);
            match stale_every {
                None => changed.push(now.clone()),
                Some(n) if n > 0 && i % n == 0 => {
                    mirror(&direct, &user(i, 1_700_000_500_000 + i as i64)).await;
                    changed.push(now.clone());
                }
                Some(_) => mirror(&direct, &now).await,
            }
            clerk.put(now);
        }
        let api = RuntimeApi::start().await.unwrap();
        api.set_timeout(Duration::from_secs(600));
        let env: Vec<(String, String)> = [
            ("USERS_TABLE", direct.table()),
            ("AWS_ENDPOINT_URL_DYNAMODB", &proxy.endpoint(0)),
            ("CLERK_API_URL", &clerk.url()),
            ("CLERK_SECRET_KEY", KEY),
            ("CLERK_SECRET_ARN", ""),
            ("RECONCILE_PAGE_SIZE", "100"),
            ("RECONCILE_REQUESTS_PER_SECOND", "1000"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        let function = Function::spawn(&binary, &api, &env, None).unwrap();
        api.wait_ready(Duration::from_secs(30)).await.unwrap();
        let before = proxy.operations();
        let started = Instant::now();
        let run = api
            .invoke(json!({}), Duration::from_secs(600))
            .await
            .unwrap();
        let wall = started.elapsed();
        function.stop().await;
        assert!(run.ok && run.body["outcome"] == "complete", "{}", run.body);
        let ops = writes(&before, &proxy.operations());
        let user_writes = total(&ops, &["TransactWriteItems"]);
        let all_writes = total(&ops, &WRITES);
        let reads = total(&ops, &["GetItem", "BatchGetItem", "Query"]);

        // The floor: the changed users written straight, on a table holding the others.
        let (floor_direct, floor_proxy, floor_store) = table().await;
        for i in 0..USERS {
            match stale_every {
                None => {}
                Some(n) if n > 0 && i % n == 0 => {
                    mirror(&floor_direct, &user(i, 1_700_000_500_000 + i as i64)).await;
                }
                Some(_) => mirror(&floor_direct, &user(i, 1_700_100_000_000 + i as i64)).await,
            }
        }
        let floor_before = floor_proxy.operations();
        let started = Instant::now();
        for user in &changed {
            mirror(&floor_store, user).await;
        }
        let floor_wall = started.elapsed();
        let floor_writes = total(&writes(&floor_before, &floor_proxy.operations()), &WRITES);
        // No changed user: no floor to compare with.
        let ratio = |a: f64, b: f64| {
            if changed.is_empty() {
                "— (floor 0)".to_owned()
            } else {
                format!("{:.2}×", a / b)
            }
        };
        println!(
            "| {label} | {} | {:.2} s | {all_writes} ({user_writes} / {}) | {} | {reads} | {:.2} s | {} |",
            changed.len(),
            wall.as_secs_f64(),
            all_writes - user_writes,
            ratio(all_writes as f64, floor_writes as f64),
            floor_wall.as_secs_f64(),
            ratio(wall.as_secs_f64(), floor_wall.as_secs_f64()),
        );
        eprintln!("  {label}: run {} ; operations {ops:?}", run.body);
    }
}
