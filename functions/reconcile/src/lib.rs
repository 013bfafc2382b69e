//! `reconcile`: the users table repaired from Clerk's Backend API, on a schedule.
//!
//! Webhooks are at least once but not at most late: a delivery can fail for as long as a
//! deploy is broken, Svix disables an endpoint after days of failures, and users who signed
//! up before this project was installed were never delivered at all. A run reads Clerk's
//! user list (`GET /v1/users`, oldest first) and applies every user through the webhook's
//! own path ([`shared::mirror::mirror_user`]: the same mapping, ordering rule and
//! email/username settlement), writing nothing for a user already current. Then it pages the
//! users stored here and asks Clerk for them by id; one Clerk no longer lists is confirmed
//! gone by its own `GET /v1/users/{id}` (404) before it is tombstoned, never on a listing's
//! absence alone.
//!
//! Requests are paced and 429s honoured (`Retry-After`); a run stops before its deadline,
//! saving where it was after every page, and the next run resumes there. A lease keeps
//! overlapping runs from repeating each other's work; every user write is conditioned and
//! ordered anyway, so even two runs at once cannot corrupt anything.

mod api;
mod clerk_pass;
mod pace;
mod stored_pass;
mod summary;

use std::time::Duration;

use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use shared::clerk;
use shared::clerk_api;
use shared::clock::{Clock as _, SystemClock};
use shared::secrets::SECRET_KEY_VAR;
use shared::store::{Halt, NewUserFlags, Progress, StoreError};
use shared::{Secret, Services};
use tokio::time::Instant;

use pace::Pacer;
pub use summary::{Outcome, Summary};

/// The keys this function uses: refused at start-up when malformed in the environment.
pub const KEYS: &[&str] = &[SECRET_KEY_VAR];

/// Stored users confirmed per Backend API request (its `user_id` filter takes 100).
const STORED_PAGE: u32 = clerk_api::MAX_IDS_PER_LIST as u32;
/// A request for hundreds of users may take longer than the gate's 3 s.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
/// 429s in a row before the run gives up until the next one.
const MAX_THROTTLED_IN_A_ROW: u32 = 5;
/// The ids a run confirms with Clerk: Clerk's user ids. Others (the development bypass's
/// `dev_user`) are never Clerk's to answer for, and a `user_id` filter reads a leading `+`
/// or `-` as include or exclude.
const CLERK_USER_ID_PREFIX: &str = "user_";

/// Everything one warm instance needs, built once at cold start.
pub struct Reconciler {
    services: Services,
    http: reqwest::Client,
}

/// Why a run stopped before the end.
enum Stop {
    /// The deadline is near, or a 429 asks for a wait that outlasts it.
    OutOfTime,
    /// The lease passed to another run (this one outlived it).
    LeaseLost,
    /// Something failed or looks wrong enough to stop; the reason code says what.
    Failed(&'static str),
}

impl Reconciler {
    /// Assembles the function; nothing is fetched yet.
    pub fn new(services: Services) -> Result<Self, shared::http::FetchError> {
        Ok(Self {
            http: shared::http::client_within(REQUEST_TIMEOUT)?,
            services,
        })
    }

    /// One run, as `owner` (the invocation's request id), ending before `deadline_ms` (Unix
    /// ms, the Lambda deadline): its summary, also logged as one line.
    pub async fn run(&self, owner: &str, deadline_ms: i64) -> (Outcome, Summary) {
        let started = Instant::now();
        let remaining = Duration::from_millis(
            // The deadline is wall time, whatever clock the services were given.
            u64::try_from(deadline_ms.saturating_sub(SystemClock.unix_millis())).unwrap_or(0),
        );
        // Time kept in hand: no request starts later than this before the deadline. A fifth
        // of the time (at most a minute), and at least a request's timeout when there is
        // time for one.
        let margin = (remaining / 5)
            .clamp(Duration::from_secs(1), Duration::from_secs(60))
            .max((REQUEST_TIMEOUT + Duration::from_secs(2)).min(remaining / 2));
        let mut run = Run {
            r: self,
            owner,
            stop_at: started + remaining.saturating_sub(margin),
            pacer: Pacer::new(self.services.config.reconcile_requests_per_second),
            summary: Summary::default(),
            flags: clerk::new_user_flags(self.services.config.auto_approve_users),
            secret_key: None,
            tombstones_left: self.services.config.reconcile_max_tombstones,
        };
        let outcome = run.go(deadline_ms).await;
        let mut summary = run.summary;
        summary.duration = started.elapsed();
        summary.report(outcome);
        (outcome, summary)
    }
}

/// One run's state.
struct Run<'a> {
    r: &'a Reconciler,
    owner: &'a str,
    stop_at: Instant,
    pacer: Pacer,
    summary: Summary,
    flags: NewUserFlags,
    secret_key: Option<Secret>,
    /// Tombstones this run may still write (`RECONCILE_MAX_TOMBSTONES`).
    tombstones_left: u32,
}

impl Run<'_> {
    async fn go(&mut self, deadline_ms: i64) -> Outcome {
        let store = &self.r.services.store;
        self.secret_key = match self.secret_key().await {
            Ok(key) => Some(key),
            Err(stop) => return self.outcome(stop),
        };
        let now = self.r.services.clock.unix_millis();
        let checkpoint = match store
            .take_reconcile_lease(self.owner, now, deadline_ms)
            .await
        {
            Ok(Some(checkpoint)) => checkpoint,
            Ok(None) => {
                tracing::info!("another reconciliation holds the lease; nothing to do");
                return Outcome::LeaseHeld;
            }
            Err(error) => {
                tracing::error!(%error, "checkpoint unreadable");
                return Outcome::Failed("store-unavailable");
            }
        };
        self.summary.resumed = checkpoint.progress != Progress::START;
        let halt = self.halt();
        let stopped = if checkpoint.halted.as_ref() == Some(&halt) {
            tracing::error!(
                limit = halt.limit,
                "halted at the tombstone limit: fix CLERK_SECRET_KEY, or raise \
                 RECONCILE_MAX_TOMBSTONES after a known mass deletion"
            );
            Err(Stop::Failed("tombstone-limit"))
        } else {
            self.from(checkpoint.progress).await
        };
        if matches!(stopped, Err(Stop::Failed("tombstone-limit"))) {
            // Runs under the same limit and key stop at once from now on.
            if let Err(error) = store.halt_reconcile(self.owner, &halt).await {
                tracing::warn!(%error, "halt not recorded");
            }
        }
        let completed = stopped.is_ok().then(|| self.r.services.clock.unix_millis());
        if let Err(error) = store.release_reconcile_lease(self.owner, completed).await {
            tracing::warn!(%error, "lease not released; it ends at the deadline");
        }
        match stopped {
            Ok(()) => Outcome::Complete,
            Err(stop) => self.outcome(stop),
        }
    }

    /// The halt this run would record: its limit, and a fingerprint of its key (the first
    /// 8 bytes of its SHA-256, hex: enough to tell keys apart, nothing to recover one from).
    fn halt(&self) -> Halt {
        use sha2::Digest as _;
        let key = self.secret_key.as_ref().map_or("", |k| k.expose());
        let digest = sha2::Sha256::digest(key.as_bytes());
        Halt {
            limit: self.r.services.config.reconcile_max_tombstones,
            key: digest[..8].iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    fn outcome(&self, stop: Stop) -> Outcome {
        match stop {
            Stop::OutOfTime => Outcome::Checkpointed,
            Stop::LeaseLost => Outcome::Failed("lease-lost"),
            Stop::Failed(code) => Outcome::Failed(code),
        }
    }

    /// Works from `progress` to the end, saving progress after every page.
    async fn from(&mut self, mut progress: Progress) -> Result<(), Stop> {
        loop {
            if Instant::now() >= self.stop_at {
                return Err(Stop::OutOfTime);
            }
            progress = match progress {
                Progress::Clerk { after_ms, skip } => self.clerk_page(after_ms, skip).await?,
                Progress::Stored { cursor } => match self.stored_page(cursor).await? {
                    Some(next) => next,
                    None => return Ok(()),
                },
            };
            let saved = self
                .r
                .services
                .store
                .save_reconcile_progress(self.owner, &progress)
                .await
                .map_err(store_failed)?;
            if !saved {
                return Err(Stop::LeaseLost);
            }
        }
    }
}

fn store_failed(error: StoreError) -> Stop {
    tracing::error!(%error, "user store unavailable");
    Stop::Failed("store-unavailable")
}

/// The Lambda handler: any event (EventBridge's scheduled one, or `{}` by hand) starts a
/// run. Its summary is the answer; a failed run is an error, for Lambda's `Errors` metric.
pub async fn handler(reconciler: &Reconciler, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let deadline_ms = i64::try_from(event.context.deadline).unwrap_or(i64::MAX);
    let (outcome, summary) = reconciler.run(&event.context.request_id, deadline_ms).await;
    match outcome {
        Outcome::Failed(code) => Err(format!("reconciliation failed: {code}").into()),
        _ => Ok(summary.to_json(outcome)),
    }
}
