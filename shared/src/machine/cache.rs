//! Opaque machine tokens' answers, cached per warm instance, so a busy machine caller costs
//! one Backend API call per token per `MACHINE_TOKEN_CACHE_TTL_SECONDS`, not one per request.
//!
//! - Entries are found by a keyed hash of the token (HMAC-SHA-256 under a key drawn at
//!   start-up), never the token itself: a heap dump or a log of the map reveals no
//!   credential, and no one outside the instance can aim at an entry.
//! - A valid token is kept until the earlier of its expiry and the TTL; a refused one
//!   (unknown, revoked, expired) for [`NEGATIVE_TTL`], so a retried bad token is cheap but a
//!   token just issued is soon seen. An unavailable Backend API is never cached.
//! - Concurrent lookups of one token share one call (single flight).
//! - Calls to the Backend API are rationed per instance (a token bucket): a flood of random
//!   tokens, each a cache miss, cannot become a flood of Backend API calls; past the ration
//!   a lookup is refused without a call ([`CacheError::Throttled`]), while cached tokens are
//!   still answered.
//!
//! Revocation therefore takes effect here within the TTL (and API Gateway's own authorizer
//! cache adds its TTL on top).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::sync::OnceCell;

use super::TokenType;
use super::backend::{BackendError, MachineToken, Refusal};
use crate::clock::{Clock, elapsed};

/// How long a refusal is remembered.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(10);

/// What the Backend API said about a token.
pub type Answer = Result<MachineToken, Refusal>;

/// The cache's limits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// A valid token is remembered at most this long (`MACHINE_TOKEN_CACHE_TTL_SECONDS`).
    pub ttl: Duration,
    /// Backend API calls per second, on average, per instance.
    pub lookups_per_second: f64,
    /// Backend API calls that may be made at once after a quiet spell.
    pub burst: u32,
    /// Entries held at most (each about 200 bytes).
    pub max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(60),
            lookups_per_second: 5.0,
            burst: 20,
            max_entries: 10_000,
        }
    }
}

/// Why no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CacheError {
    /// The Backend API failed (or refused our credential).
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// This instance's ration of Backend API calls is spent.
    #[error("machine token lookups rationed: the Backend API was not asked")]
    Throttled,
}

type Digest = [u8; 32];
type Flight = Arc<OnceCell<Result<Answer, BackendError>>>;

struct Entry {
    answer: Answer,
    until: SystemTime,
}

struct State {
    entries: HashMap<Digest, Entry>,
    in_flight: HashMap<Digest, Flight>,
    tokens: f64,
    refilled: SystemTime,
}

/// The answers of one warm instance.
pub struct MachineTokenCache {
    key: Hmac<Sha256>,
    limits: Limits,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
}

impl MachineTokenCache {
    /// An empty cache with a fresh random key.
    pub fn new(limits: Limits, clock: Arc<dyn Clock>) -> Self {
        let mut key = [0u8; 32];
        // aws-lc's system RNG; without one nothing here can be trusted, so fail loudly.
        #[allow(clippy::expect_used)]
        aws_lc_rs::rand::fill(&mut key).expect("the system random number generator");
        #[allow(clippy::expect_used)]
        let key = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
        let now = clock.now();
        Self {
            key,
            limits,
            clock,
            state: Mutex::new(State {
                entries: HashMap::new(),
                in_flight: HashMap::new(),
                tokens: f64::from(limits.burst),
                refilled: now,
            }),
        }
    }

    /// The answer for `token` of `kind`: cached, shared with a lookup in flight, or from
    /// `lookup` (called at most once, when the ration allows).
    pub async fn get<F, Fut>(
        &self,
        kind: TokenType,
        token: &str,
        lookup: F,
    ) -> Result<Answer, CacheError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Answer, BackendError>>,
    {
        let digest = self.digest(kind, token);
        let (flight, leader) = {
            let mut state = self.lock();
            let now = self.clock.now();
            if let Some(entry) = state.entries.get(&digest) {
                if entry.until > now {
                    return Ok(entry.answer.clone());
                }
                state.entries.remove(&digest);
            }
            match state.in_flight.get(&digest) {
                // A finished flight whose leader went away: start anew.
                Some(flight) if flight.initialized() => {
                    state.in_flight.remove(&digest);
                    (self.lead(&mut state, digest, now)?, true)
                }
                Some(flight) => (Arc::clone(flight), false),
                None => (self.lead(&mut state, digest, now)?, true),
            }
        };
        let outcome = flight.get_or_init(lookup).await.clone();
        if leader {
            let mut state = self.lock();
            state.in_flight.remove(&digest);
            if let Ok(answer) = &outcome {
                let now = self.clock.now();
                let until = match answer {
                    Ok(token) => {
                        let cap = now + self.limits.ttl;
                        token
                            .expiration_ms
                            .and_then(|ms| u64::try_from(ms).ok())
                            .map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
                            .map_or(cap, |expiry| expiry.min(cap))
                    }
                    Err(_) => now + NEGATIVE_TTL.min(self.limits.ttl),
                };
                self.remember(&mut state, digest, answer.clone(), until, now);
            }
        }
        Ok(outcome?)
    }

    /// Entries held now (expired ones included until they are swept).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes one call from the ration and registers a flight for `digest`.
    fn lead(
        &self,
        state: &mut State,
        digest: Digest,
        now: SystemTime,
    ) -> Result<Flight, CacheError> {
        let refill = elapsed(now, state.refilled).as_secs_f64() * self.limits.lookups_per_second;
        state.tokens = (state.tokens + refill).min(f64::from(self.limits.burst));
        state.refilled = now;
        if state.tokens < 1.0 {
            return Err(CacheError::Throttled);
        }
        state.tokens -= 1.0;
        let flight = Flight::default();
        state.in_flight.insert(digest, Arc::clone(&flight));
        Ok(flight)
    }

    fn remember(
        &self,
        state: &mut State,
        digest: Digest,
        answer: Answer,
        until: SystemTime,
        now: SystemTime,
    ) {
        if until <= now {
            return;
        }
        if state.entries.len() >= self.limits.max_entries {
            state.entries.retain(|_, entry| entry.until > now);
        }
        // Still full of live entries: this one is not kept (it is answered all the same).
        if state.entries.len() < self.limits.max_entries {
            state.entries.insert(digest, Entry { answer, until });
        }
    }

    fn digest(&self, kind: TokenType, token: &str) -> Digest {
        let mut mac = self.key.clone();
        mac.update(kind.as_str().as_bytes());
        mac.update(b"\0");
        mac.update(token.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::clock::ManualClock;

    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn token(expiration_ms: Option<i64>) -> MachineToken {
        MachineToken {
            token_type: TokenType::ApiKey,
            id: "ak_1".into(),
            subject: "user_1".into(),
            scopes: vec!["read".into()],
            client_id: None,
            expiration_ms,
        }
    }

    struct Fixture {
        clock: Arc<ManualClock>,
        cache: MachineTokenCache,
        calls: AtomicUsize,
    }

    impl Fixture {
        fn new(limits: Limits) -> Self {
            let clock = Arc::new(ManualClock::at(NOW));
            let cache = MachineTokenCache::new(limits, Arc::clone(&clock) as Arc<dyn Clock>);
            Self {
                clock,
                cache,
                calls: AtomicUsize::new(0),
            }
        }

        async fn get(
            &self,
            secret: &str,
            answer: Result<Answer, BackendError>,
        ) -> Result<Answer, CacheError> {
            self.cache
                .get(TokenType::ApiKey, secret, || async {
                    self.calls.fetch_add(1, Ordering::SeqCst);
                    answer
                })
                .await
        }

        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    #[tokio::test]
    async fn a_valid_token_is_asked_about_once_per_ttl() {
        let f = Fixture::new(Limits::default());
        assert_eq!(
            f.get("ak_a", Ok(Ok(token(None)))).await,
            Ok(Ok(token(None)))
        );
        // Later lookups are answered from the cache, whatever the Backend API would say now.
        f.clock.advance(Duration::from_secs(59));
        assert_eq!(
            f.get("ak_a", Ok(Err(Refusal::Revoked))).await,
            Ok(Ok(token(None)))
        );
        assert_eq!(f.calls(), 1);
        // Past the TTL it is asked again, and a revocation is seen.
        f.clock.advance(Duration::from_secs(1));
        assert_eq!(
            f.get("ak_a", Ok(Err(Refusal::Revoked))).await,
            Ok(Err(Refusal::Revoked))
        );
        assert_eq!(f.calls(), 2);
        // Another token, or the same string as another type, is another entry.
        f.get("ak_b", Ok(Ok(token(None)))).await.unwrap().unwrap();
        let other_type = f.cache.get(TokenType::OAuthToken, "ak_a", || async {
            Ok(Err(Refusal::Invalid))
        });
        assert_eq!(other_type.await, Ok(Err(Refusal::Invalid)));
        assert_eq!(f.calls(), 3);
    }

    #[tokio::test]
    async fn a_token_expiring_first_is_kept_until_it_expires() {
        let f = Fixture::new(Limits::default());
        let expiry_ms = (NOW as i64 + 20) * 1000;
        f.get("ak_a", Ok(Ok(token(Some(expiry_ms)))))
            .await
            .unwrap()
            .unwrap();
        f.clock.advance(Duration::from_secs(19));
        f.get("ak_a", Ok(Err(Refusal::Expired)))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(f.calls(), 1);
        f.clock.advance(Duration::from_secs(1));
        assert_eq!(
            f.get("ak_a", Ok(Err(Refusal::Expired))).await,
            Ok(Err(Refusal::Expired))
        );
        assert_eq!(f.calls(), 2);
    }

    #[tokio::test]
    async fn refusals_briefly_and_failures_never() {
        let f = Fixture::new(Limits::default());
        assert_eq!(
            f.get("ak_bad", Ok(Err(Refusal::Invalid))).await,
            Ok(Err(Refusal::Invalid))
        );
        f.clock.advance(NEGATIVE_TTL - Duration::from_secs(1));
        assert_eq!(
            f.get("ak_bad", Ok(Ok(token(None)))).await,
            Ok(Err(Refusal::Invalid))
        );
        assert_eq!(f.calls(), 1);
        f.clock.advance(Duration::from_secs(1));
        assert_eq!(
            f.get("ak_bad", Ok(Ok(token(None)))).await,
            Ok(Ok(token(None)))
        );
        assert_eq!(f.calls(), 2);
        // An outage is not remembered: the next request asks again.
        let down = || Err(BackendError::Unavailable("HTTP status 503".into()));
        assert_eq!(
            f.get("ak_c", down()).await,
            Err(CacheError::Backend(BackendError::Unavailable(
                "HTTP status 503".into()
            )))
        );
        assert!(f.get("ak_c", down()).await.is_err());
        assert_eq!(f.calls(), 4);
    }

    #[tokio::test]
    async fn concurrent_lookups_of_one_token_share_one_call() {
        let f = Arc::new(Fixture::new(Limits::default()));
        let gate = Arc::new(tokio::sync::Notify::new());
        let lookups: Vec<_> = (0..8)
            .map(|_| {
                let (f, gate) = (Arc::clone(&f), Arc::clone(&gate));
                tokio::spawn(async move {
                    f.cache
                        .get(TokenType::ApiKey, "ak_same", || async {
                            f.calls.fetch_add(1, Ordering::SeqCst);
                            gate.notified().await;
                            Ok(Ok(token(None)))
                        })
                        .await
                })
            })
            .collect();
        // Let every task reach the flight, then release the one call.
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        gate.notify_waiters();
        gate.notify_one();
        for lookup in lookups {
            assert_eq!(lookup.await.unwrap(), Ok(Ok(token(None))));
        }
        assert_eq!(f.calls(), 1);
    }

    #[tokio::test]
    async fn a_flood_of_new_tokens_is_rationed() {
        let limits = Limits {
            lookups_per_second: 2.0,
            burst: 5,
            ..Limits::default()
        };
        let f = Fixture::new(limits);
        let mut answered = 0;
        for i in 0..100 {
            match f
                .get(&format!("ak_random{i}"), Ok(Err(Refusal::Invalid)))
                .await
            {
                Ok(_) => answered += 1,
                Err(CacheError::Throttled) => {}
                Err(other) => panic!("{other}"),
            }
        }
        assert_eq!((answered, f.calls()), (5, 5), "the burst, then nothing");
        // Cached answers are still given while rationed.
        assert_eq!(
            f.get("ak_random0", Ok(Ok(token(None)))).await,
            Ok(Err(Refusal::Invalid))
        );
        // The ration refills at its rate, up to the burst.
        f.clock.advance(Duration::from_secs(1));
        let after_a_second = (0..10)
            .filter(|i| {
                futures_lite(f.get(&format!("ak_later{i}"), Ok(Err(Refusal::Invalid)))).is_ok()
            })
            .count();
        assert_eq!(after_a_second, 2);
        f.clock.advance(Duration::from_secs(3600));
        let after_an_hour = (0..10)
            .filter(|i| {
                futures_lite(f.get(&format!("ak_hour{i}"), Ok(Err(Refusal::Invalid)))).is_ok()
            })
            .count();
        assert_eq!(after_an_hour, 5);
        assert_eq!(f.calls(), 12);
    }

    #[tokio::test]
    async fn the_cache_holds_at_most_its_limit() {
        let limits = Limits {
            max_entries: 3,
            burst: 100,
            ..Limits::default()
        };
        let f = Fixture::new(limits);
        for i in 0..5 {
            f.get(&format!("ak_{i}"), Ok(Ok(token(None))))
                .await
                .unwrap()
                .unwrap();
        }
        assert_eq!(f.cache.len(), 3);
        // The ones not kept are asked about again; the kept ones are not.
        f.get("ak_4", Ok(Ok(token(None)))).await.unwrap().unwrap();
        f.get("ak_0", Ok(Ok(token(None)))).await.unwrap().unwrap();
        assert_eq!(f.calls(), 6);
        // Expired entries make room.
        f.clock.advance(Duration::from_secs(61));
        f.get("ak_9", Ok(Ok(token(None)))).await.unwrap().unwrap();
        assert_eq!(f.cache.len(), 1);
    }

    /// Runs a future that never waits (these lookups answer at once).
    fn futures_lite<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        match future
            .as_mut()
            .poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
        {
            std::task::Poll::Ready(output) => output,
            std::task::Poll::Pending => panic!("the lookup waited"),
        }
    }
}
