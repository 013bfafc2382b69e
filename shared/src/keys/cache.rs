//! The JWKS cache of one warm instance.
//!
//! - Fresh keys (younger than the TTL) answer without any I/O.
//! - Concurrent misses share one fetch (single flight).
//! - An unknown `kid` triggers one refetch (keys rotate); fetches are never closer together
//!   than the cooldown, so random `kid`s cannot make us hammer Clerk.
//! - A failed refresh keeps serving the keys already held (stale-if-error), for at most
//!   `max_stale` past their fetch, and logs a warning.

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use tokio::sync::Mutex;

use super::fetch::fetch_jwks;
use super::{KeySet, RsaKey};
use crate::clock::{Clock, elapsed};
use crate::redacted::Secret;

/// Timing rules of a [`JwksCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    /// Keys younger than this are used without asking again (`JWKS_CACHE_TTL_SECONDS`).
    pub ttl: Duration,
    /// No fetch starts sooner than this after the previous one.
    pub cooldown: Duration,
    /// Keys older than this are not used even when a refresh fails.
    pub max_stale: Duration,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(3600),
            cooldown: Duration::from_secs(10),
            max_stale: Duration::from_secs(24 * 3600),
        }
    }
}

/// Why no key could be handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// The keys are known and none has this `kid`.
    Unknown,
    /// No usable keys: the endpoint failed and nothing (fresh enough) is cached.
    Unavailable,
}

#[derive(Default)]
struct State {
    keys: Option<(Arc<KeySet>, SystemTime)>,
    last_attempt: Option<SystemTime>,
    attempts: u64,
}

enum Lookup {
    Found(Arc<RsaKey>),
    Miss(Miss),
    Fetch,
}

/// Keys fetched from one JWKS endpoint, cached per warm instance.
pub struct JwksCache {
    http: reqwest::Client,
    url: String,
    bearer: Option<Secret>,
    policy: CachePolicy,
    clock: Arc<dyn Clock>,
    state: RwLock<State>,
    // Held for the duration of a fetch: the single flight.
    flight: Mutex<()>,
}

impl JwksCache {
    /// A cache of the JWKS at `url`, sending `bearer` as `Authorization: Bearer` if given.
    pub fn new(
        http: reqwest::Client,
        url: impl Into<String>,
        bearer: Option<Secret>,
        policy: CachePolicy,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            http,
            url: url.into(),
            bearer,
            policy,
            clock,
            state: RwLock::new(State::default()),
            flight: Mutex::new(()),
        }
    }

    /// The endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The key with this `kid`, fetching (once, shared) when needed.
    pub async fn get(&self, kid: &str) -> Result<Arc<RsaKey>, Miss> {
        let observed = match self.decide(kid, true) {
            (Lookup::Found(key), _) => return Ok(key),
            (Lookup::Miss(miss), _) => return Err(miss),
            (Lookup::Fetch, attempts) => attempts,
        };
        self.refresh(observed).await;
        match self.decide(kid, false).0 {
            Lookup::Found(key) => Ok(key),
            Lookup::Miss(miss) => Err(miss),
            Lookup::Fetch => Err(Miss::Unavailable),
        }
    }

    /// Fetches the keys if none are held yet; failures are logged, not returned, so a
    /// cold start never fails because Clerk is unreachable.
    pub async fn prefetch(&self) {
        let (holds_keys, observed) = {
            let state = self.read();
            (state.keys.is_some(), state.attempts)
        };
        if !holds_keys {
            self.refresh(observed).await;
        }
    }

    /// Fetches unless another task fetched since `observed` attempts were counted.
    async fn refresh(&self, observed: u64) {
        let _flight = self.flight.lock().await;
        if self.read().attempts != observed {
            return; // Someone else fetched while we waited: use their result.
        }
        let started = self.clock.now();
        let result = fetch_jwks(&self.http, &self.url, self.bearer.as_ref()).await;
        let mut state = self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.last_attempt = Some(started);
        state.attempts += 1;
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        crate::metrics::count("JwksFetches", &[("Result", outcome)]);
        match result {
            Ok(keys) => {
                tracing::debug!(url = %self.url, keys = keys.len(), "JWKS fetched");
                state.keys = Some((Arc::new(keys), started));
            }
            Err(error) => {
                let held = state
                    .keys
                    .as_ref()
                    .map(|(_, at)| elapsed(started, *at).as_secs());
                tracing::warn!(
                    url = %self.url,
                    %error,
                    cached_keys_age_s = ?held,
                    "JWKS fetch failed; serving the cached keys while they are under 24 h old"
                );
            }
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// What to do for `kid` now; also returns the attempt count the decision saw.
    fn decide(&self, kid: &str, may_fetch: bool) -> (Lookup, u64) {
        let now = self.clock.now();
        let state = self.read();
        let cooling = state
            .last_attempt
            .is_some_and(|at| elapsed(now, at) < self.policy.cooldown);
        let fetch = may_fetch && !cooling;
        let decision = match &state.keys {
            None if fetch => Lookup::Fetch,
            None => Lookup::Miss(Miss::Unavailable),
            Some((keys, fetched_at)) => {
                let age = elapsed(now, *fetched_at);
                let found = keys.get(kid).cloned();
                if age < self.policy.ttl {
                    match found {
                        Some(key) => Lookup::Found(key),
                        None if fetch => Lookup::Fetch,
                        None => Lookup::Miss(Miss::Unknown),
                    }
                } else if fetch {
                    Lookup::Fetch
                } else if age < self.policy.max_stale {
                    // Logged where the refresh fails (once per cooldown), not per request.
                    found.map_or(Lookup::Miss(Miss::Unknown), Lookup::Found)
                } else {
                    Lookup::Miss(Miss::Unavailable)
                }
            }
        };
        (decision, state.attempts)
    }
}
