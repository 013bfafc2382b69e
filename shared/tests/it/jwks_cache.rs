//! The JWKS cache, judged by the HTTP requests a loopback fake Clerk receives.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::json;
use shared::clock::{Clock, ManualClock};
use shared::http;
use shared::keys::{CachePolicy, JwksCache, Miss};
use testkit::{FakeClerk, Reply, TestKey};

const NOW: u64 = 1_765_000_000;

fn k1() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey::generate("ins_k1"))
}

fn k2() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey::generate("ins_k2"))
}

struct Fixture {
    clerk: FakeClerk,
    clock: Arc<ManualClock>,
    cache: Arc<JwksCache>,
}

async fn fixture(policy: CachePolicy) -> Fixture {
    let clerk = FakeClerk::start().await;
    clerk.serve_keys("/jwks", &[k1()]);
    let clock = Arc::new(ManualClock::at(NOW));
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let cache = Arc::new(JwksCache::new(
        http::client().unwrap(),
        format!("{}/jwks", clerk.url()),
        None,
        policy,
        dyn_clock,
    ));
    Fixture {
        clerk,
        clock,
        cache,
    }
}

fn policy() -> CachePolicy {
    CachePolicy {
        ttl: Duration::from_secs(60),
        cooldown: Duration::from_secs(10),
        max_stale: Duration::from_secs(3600),
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_share_one_fetch() {
    let f = fixture(policy()).await;
    f.clerk.serve_keys("/jwks", &[k1()]);
    let slow = json!({ "keys": [k1().jwk()] });
    f.clerk.set(
        "/jwks",
        Reply::json(200, &slow).delayed(Duration::from_millis(300)),
    );
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let cache = Arc::clone(&f.cache);
        tasks.spawn(async move {
            cache
                .get("ins_k1")
                .await
                .map(|k| k.kid().map(str::to_owned))
        });
    }
    let results = tasks.join_all().await;
    assert_eq!(results.len(), 20);
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().unwrap().as_deref() == Some("ins_k1"))
    );
    assert_eq!(f.clerk.hits("/jwks"), 1);
}

#[tokio::test]
async fn keys_are_reused_until_the_ttl_then_refetched() {
    let f = fixture(policy()).await;
    f.cache.get("ins_k1").await.unwrap();
    f.clock.advance(secs(59));
    f.cache.get("ins_k1").await.unwrap();
    assert_eq!(f.clerk.hits("/jwks"), 1);
    f.clock.advance(secs(1));
    f.cache.get("ins_k1").await.unwrap();
    assert_eq!(f.clerk.hits("/jwks"), 2);
    f.cache.get("ins_k1").await.unwrap();
    assert_eq!(f.clerk.hits("/jwks"), 2);
}

#[tokio::test]
async fn a_rotated_in_key_is_found_by_one_refetch() {
    let f = fixture(policy()).await;
    f.cache.get("ins_k1").await.unwrap();
    f.clerk.serve_keys("/jwks", &[k1(), k2()]);
    // Within the cooldown of the first fetch, the new kid is not looked for yet.
    assert_eq!(f.cache.get("ins_k2").await.unwrap_err(), Miss::Unknown);
    assert_eq!(f.clerk.hits("/jwks"), 1);
    f.clock.advance(secs(10));
    assert_eq!(f.cache.get("ins_k2").await.unwrap().kid(), Some("ins_k2"));
    assert_eq!(f.clerk.hits("/jwks"), 2);
    // The old key is still there, and nothing more is fetched.
    f.cache.get("ins_k1").await.unwrap();
    assert_eq!(f.clerk.hits("/jwks"), 2);
}

#[tokio::test]
async fn unknown_kids_fail_fast_during_the_cooldown() {
    let f = fixture(policy()).await;
    f.cache.get("ins_k1").await.unwrap();
    f.clock.advance(secs(11));
    assert_eq!(
        f.cache.get("ins_random_0").await.unwrap_err(),
        Miss::Unknown
    );
    assert_eq!(f.clerk.hits("/jwks"), 2, "one refetch for the unknown kid");
    for i in 1..50 {
        assert_eq!(
            f.cache.get(&format!("ins_random_{i}")).await.unwrap_err(),
            Miss::Unknown
        );
    }
    f.clock.advance(secs(9));
    assert_eq!(
        f.cache.get("ins_random_x").await.unwrap_err(),
        Miss::Unknown
    );
    assert_eq!(f.clerk.hits("/jwks"), 2, "no fetch inside the cooldown");
    f.clock.advance(secs(1));
    assert_eq!(
        f.cache.get("ins_random_y").await.unwrap_err(),
        Miss::Unknown
    );
    assert_eq!(f.clerk.hits("/jwks"), 3, "one more after it");
    f.cache.get("ins_k1").await.unwrap();
}

#[tokio::test]
async fn cached_keys_outlive_an_outage_for_max_stale() {
    let f = fixture(policy()).await;
    f.cache.get("ins_k1").await.unwrap();
    f.clerk
        .set("/jwks", Reply::json(500, &json!({ "error": "down" })));
    f.clock.advance(secs(61));
    assert!(f.cache.get("ins_k1").await.is_ok(), "stale keys served");
    assert_eq!(f.clerk.hits("/jwks"), 2, "the refresh was tried");
    f.clock.advance(secs(5));
    assert!(f.cache.get("ins_k1").await.is_ok());
    assert_eq!(f.clerk.hits("/jwks"), 2, "no retry inside the cooldown");
    f.clock.advance(secs(3600));
    assert_eq!(f.cache.get("ins_k1").await.unwrap_err(), Miss::Unavailable);
    // Clerk is back: the next attempt after the cooldown recovers.
    f.clerk.serve_keys("/jwks", &[k1()]);
    f.clock.advance(secs(10));
    assert!(f.cache.get("ins_k1").await.is_ok());
}

#[tokio::test]
async fn without_keys_failures_are_retried_only_after_the_cooldown() {
    let f = fixture(policy()).await;
    f.clerk.set("/jwks", Reply::json(502, &json!({})));
    assert_eq!(f.cache.get("ins_k1").await.unwrap_err(), Miss::Unavailable);
    assert_eq!(f.cache.get("ins_k1").await.unwrap_err(), Miss::Unavailable);
    assert_eq!(f.clerk.hits("/jwks"), 1);
    f.clerk.serve_keys("/jwks", &[k1()]);
    f.clock.advance(secs(10));
    assert!(f.cache.get("ins_k1").await.is_ok());
    assert_eq!(f.clerk.hits("/jwks"), 2);
}

#[tokio::test]
async fn bad_documents_are_fetch_failures() {
    let huge = json!({ "keys": [], "pad": "x".repeat(70 * 1024) });
    let documents = [
        Reply::json(200, &json!({ "keys": [] })),
        Reply::json(200, &json!("not a jwks")),
        Reply::json(200, &huge),
        Reply::json(301, &json!({})),
    ];
    for reply in documents {
        let f = fixture(policy()).await;
        f.clerk.set("/jwks", reply.clone());
        assert_eq!(
            f.cache.get("ins_k1").await.unwrap_err(),
            Miss::Unavailable,
            "{reply:?}"
        );
    }
}

#[tokio::test]
async fn a_hanging_endpoint_times_out() {
    let f = fixture(policy()).await;
    let keys = json!({ "keys": [k1().jwk()] });
    f.clerk.set(
        "/jwks",
        Reply::json(200, &keys).delayed(Duration::from_secs(5)),
    );
    assert_eq!(f.cache.get("ins_k1").await.unwrap_err(), Miss::Unavailable);
}

#[tokio::test]
async fn prefetch_fills_the_cache_and_never_fails() {
    let f = fixture(policy()).await;
    f.cache.prefetch().await;
    assert_eq!(f.clerk.hits("/jwks"), 1);
    f.cache.prefetch().await;
    f.cache.get("ins_k1").await.unwrap();
    assert_eq!(f.clerk.hits("/jwks"), 1);

    let down = fixture(policy()).await;
    down.clerk.set("/jwks", Reply::json(500, &json!({})));
    down.cache.prefetch().await; // logs, returns
    assert_eq!(down.clerk.hits("/jwks"), 1);
}
