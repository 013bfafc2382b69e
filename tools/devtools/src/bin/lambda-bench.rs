//! Cold start and memory of the release `authorizer` binary, run as Lambda runs it (polling a
//! runtime API on loopback), next to `noop-lambda`, the floor measured in the same run.
//!
//! usage: lambda-bench [RUNS] [WARM_INVOCATIONS]   (needs the local stack's environment and
//! the release authorizer built on its own, as `make bench` builds it)

#![allow(clippy::print_stdout, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use devtools::{Function, RuntimeApi, median};
use serde_json::{Value, json};
use shared::store::NewUserFlags;
use testkit::{FakeClerk, TestKey, session_claims};

const ISSUER: &str = "https://clerk.example.com";
const EVENT: &str = include_str!("../../../../functions/authorizer/tests/data/http_v2.json");

struct Sample {
    init: Duration,
    first: Duration,
    warm: Duration,
    rss_kib: u64,
}

async fn run_once(binary: &Path, env: &[(String, String)], event: &Value, warm: usize) -> Sample {
    let api = RuntimeApi::start().await.unwrap();
    let log = PathBuf::from(".local/bench.log");
    let function = Function::spawn(binary, &api, env, Some(&log)).unwrap();
    let ready = api.wait_ready(Duration::from_secs(10)).await.unwrap();
    let init = ready - function.started;
    let first = api
        .invoke(event.clone(), Duration::from_secs(10))
        .await
        .unwrap();
    assert!(first.ok, "first invocation failed: {}", first.body);
    let mut latencies = Vec::with_capacity(warm);
    for _ in 0..warm {
        let outcome = api
            .invoke(event.clone(), Duration::from_secs(10))
            .await
            .unwrap();
        assert!(
            outcome.ok && outcome.body == first.body,
            "warm answer differs: {}",
            outcome.body
        );
        latencies.push(outcome.latency);
    }
    let rss_kib = function.peak_rss_kib().unwrap_or_default();
    function.stop().await;
    Sample {
        init,
        first: first.latency,
        warm: median(&mut latencies),
        rss_kib,
    }
}

struct Summary {
    init: Duration,
    first: Duration,
    warm: Duration,
    rss_kib: u64,
    size: u64,
}

async fn measure(
    binary: &Path,
    env: &[(String, String)],
    event: &Value,
    runs: usize,
    warm: usize,
) -> Summary {
    let mut samples = Vec::new();
    for _ in 0..runs {
        samples.push(run_once(binary, env, event, warm).await);
    }
    let pick = |f: fn(&Sample) -> Duration| median(&mut samples.iter().map(f).collect::<Vec<_>>());
    let init = pick(|s| s.init);
    let first = pick(|s| s.first);
    let warm = pick(|s| s.warm);
    Summary {
        init,
        first,
        warm,
        rss_kib: samples.iter().map(|s| s.rss_kib).max().unwrap_or_default(),
        size: std::fs::metadata(binary)
            .map(|m| m.len())
            .unwrap_or_default(),
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}×", a / b)
    } else {
        "–".into()
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let runs = args.first().copied().unwrap_or(10);
    let warm = args.get(1).copied().unwrap_or(50);
    let release =
        PathBuf::from(std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into()))
            .join("release");

    // A Clerk instance, a user and a valid token, as in production but on loopback.
    let key = TestKey::generate("ins_bench");
    let clerk = FakeClerk::start().await;
    clerk.serve_keys("/jwks", &[&key]);
    let store = testkit::fresh_store().await;
    let profile = testkit::profile("user_bench", Some("bench@example.com"), "bench");
    store
        .upsert_from_clerk(&profile, NewUserFlags::default())
        .await
        .unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut claims = session_claims(ISSUER, "user_bench", now);
    claims["exp"] = json!(now + 3600);
    let token = key.sign(&key.session_header(), &claims);
    let event: Value = serde_json::from_str(&EVENT.replace("{{TOKEN}}", &token)).unwrap();
    // Secrets from Secrets Manager, as deployed: a secret without CLERK_JWT_KEY, so keys
    // come from the JWKS endpoint.
    let sdk = testkit::local_stack_sdk_config().await;
    let secret =
        json!({ "CLERK_SECRET_KEY": "sk_test_bench", "CLERK_WEBHOOK_SECRET": "whsec_YmVuY2g=" });
    let secret_arn = aws_sdk_secretsmanager::Client::new(&sdk)
        .create_secret()
        .name(format!("bench/clerk-{}", uuid::Uuid::new_v4().simple()))
        .secret_string(secret.to_string())
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let env = vec![
        (
            "CLERK_PUBLISHABLE_KEY".to_owned(),
            "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k".to_owned(),
        ),
        ("CLERK_JWKS_URL".to_owned(), format!("{}/jwks", clerk.url())),
        ("USERS_TABLE".to_owned(), store.table().to_owned()),
        ("CLERK_SECRET_ARN".to_owned(), secret_arn),
    ];

    // The floor of the store read inside every authorizer invocation: a bare GetItem.
    let mut reads = Vec::new();
    for _ in 0..warm.max(1) {
        let started = Instant::now();
        store.get_by_clerk_id("user_bench").await.unwrap();
        reads.push(started.elapsed());
    }
    let get_item = median(&mut reads);

    let noop = measure(
        &release.join("noop-lambda"),
        &[],
        &json!({ "ping": 1 }),
        runs,
        warm,
    )
    .await;
    let authorizer = measure(&release.join("authorizer"), &env, &event, runs, warm).await;

    println!(
        "Cold start: {runs} process starts, {warm} warm invocations each (medians; RSS: max)\n"
    );
    println!("| measure | noop-lambda (floor) | authorizer | × floor |");
    println!("|---|---|---|---|");
    let rows = [
        (
            "init: spawn → first poll for an event",
            noop.init,
            authorizer.init,
        ),
        ("first invocation", noop.first, authorizer.first),
        ("warm invocation", noop.warm, authorizer.warm),
    ];
    for (name, floor, value) in rows {
        println!(
            "| {name} | {} | {} | {} |",
            ms(floor),
            ms(value),
            ratio(value.as_secs_f64(), floor.as_secs_f64())
        );
    }
    println!(
        "| peak RSS | {:.1} MB | {:.1} MB | {} |",
        noop.rss_kib as f64 / 1024.0,
        authorizer.rss_kib as f64 / 1024.0,
        ratio(authorizer.rss_kib as f64, noop.rss_kib as f64)
    );
    println!(
        "| binary size | {:.2} MB | {:.2} MB | {} |",
        noop.size as f64 / 1e6,
        authorizer.size as f64 / 1e6,
        ratio(authorizer.size as f64, noop.size as f64)
    );
    println!(
        "\nStore floor: a bare GetItem from this process to the same moto server: {}",
        ms(get_item)
    );
}
