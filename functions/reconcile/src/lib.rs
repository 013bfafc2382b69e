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

mod pace;
mod summary;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Error, LambdaEvent};
use serde_json::Value;
use shared::clerk::{self, ClerkUser};
use shared::clerk_api::{self, ApiError, ListRequest, Listed};
use shared::secrets::SECRET_KEY_VAR;
use shared::store::{Applied, ListQuery, NewUserFlags, Progress, StoreError};
use shared::{Secret, Services, User};
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
            u64::try_from(deadline_ms.saturating_sub(wall_ms())).unwrap_or(0),
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

impl<'a> Run<'a> {
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
        let stopped = self.from(checkpoint.progress).await;
        let completed = stopped.is_ok().then(|| self.r.services.clock.unix_millis());
        if let Err(error) = store.release_reconcile_lease(self.owner, completed).await {
            tracing::warn!(%error, "lease not released; it ends at the deadline");
        }
        match stopped {
            Ok(()) => Outcome::Complete,
            Err(stop) => self.outcome(stop),
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

    /// One page of Clerk's list, applied; where the next starts.
    async fn clerk_page(&mut self, after_ms: Option<i64>, skip: u32) -> Result<Progress, Stop> {
        let limit = self.r.services.config.reconcile_page_size;
        let request = ListRequest {
            limit,
            offset: skip,
            // Clerk's `created_at_after` is taken as exclusive: from one ms before, the
            // users of `after_ms` itself come back and `offset` skips those done. Were it
            // inclusive, a few users done already would come back too: applied again, which
            // writes nothing.
            created_after: after_ms.map(|t| t.saturating_sub(1)),
            user_ids: Vec::new(),
        };
        let listed = self.list(&request).await?;
        // When Clerk wrote this answer: a lockout's end counts from it.
        let read_ms = self.r.services.clock.unix_millis();
        self.summary.pages += 1;
        // Oldest first, as asked: a page out of order (the order ignored) would move the
        // cursor back and repeat pages forever.
        let (mut after, mut skip) = (after_ms, skip);
        for entry in &listed {
            if after.is_some_and(|t| entry.created_at < t) {
                tracing::error!("Clerk's list is not oldest first; stopping");
                return Err(Stop::Failed("clerk-list-unordered"));
            }
            if after == Some(entry.created_at) {
                skip += 1;
            } else {
                after = Some(entry.created_at);
                skip = 1;
            }
        }
        self.apply_page(&listed, read_ms).await?;
        Ok(if listed.len() < limit as usize {
            Progress::Stored { cursor: None }
        } else {
            Progress::Clerk {
                after_ms: after,
                skip,
            }
        })
    }

    /// Applies every readable user of a page, reading those stored in batches first: a
    /// user already current costs no write.
    async fn apply_page(&mut self, listed: &[Listed], read_ms: i64) -> Result<(), Stop> {
        let users: Vec<&ClerkUser> = listed.iter().filter_map(|e| e.user.as_ref()).collect();
        for entry in listed.iter().filter(|e| e.user.is_none()) {
            self.summary.unreadable += 1;
            tracing::warn!(
                clerk_user_id = entry.id.as_deref().unwrap_or("-"),
                "a listed user is not readable; skipped"
            );
        }
        let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
        let stored: HashMap<String, User> = self
            .r
            .services
            .store
            .get_many(&ids)
            .await
            .map_err(store_failed)?
            .into_iter()
            .map(|u| (u.clerk_user_id.clone(), u))
            .collect();
        for user in users {
            self.summary.scanned += 1;
            self.apply(user, stored.get(&user.id), read_ms).await?;
        }
        Ok(())
    }

    /// Applies one Clerk user read at `read_ms` as a webhook delivery of it would, unless
    /// `stored` is already as new (the ordering rule, decided without a write).
    async fn apply(
        &mut self,
        user: &ClerkUser,
        stored: Option<&User>,
        read_ms: i64,
    ) -> Result<(), Stop> {
        let profile = user.to_profile(read_ms);
        if stored.is_some_and(|s| s.clerk_updated_at >= profile.clerk_updated_at) {
            self.summary.unchanged += 1;
            return Ok(());
        }
        let store = &self.r.services.store;
        match shared::mirror::mirror_user(store, user, read_ms, self.flags).await {
            Ok(written) => {
                match written.applied {
                    Applied::Created => self.summary.created += 1,
                    Applied::Updated => self.summary.updated += 1,
                }
                let kept = written.user.deleted_at.is_some()
                    || (written.user.email == profile.email
                        && written.user.username == profile.username);
                if !kept {
                    self.summary.conflicts += 1;
                    tracing::info!(
                        clerk_user_id = %user.id,
                        "stored without its Clerk email or username: another user holds it"
                    );
                }
            }
            // A webhook (or another run) stored this state or a newer one meanwhile.
            Err(StoreError::Stale) => self.summary.unchanged += 1,
            Err(error @ (StoreError::Conflict { .. } | StoreError::Unstorable(_))) => {
                self.summary.conflicts += 1;
                tracing::warn!(%error, clerk_user_id = %user.id, "user not stored");
            }
            Err(error) => return Err(store_failed(error)),
        }
        Ok(())
    }

    /// One page of the users stored here, confirmed against Clerk; `None` after the last.
    async fn stored_page(
        &mut self,
        cursor: Option<shared::store::Cursor>,
    ) -> Result<Option<Progress>, Stop> {
        let query = ListQuery {
            limit: STORED_PAGE,
            cursor,
            active: None,
        };
        let page = self
            .r
            .services
            .store
            .list(&query)
            .await
            .map_err(store_failed)?;
        self.summary.pages += 1;
        let live: Vec<&User> = page
            .users
            .iter()
            .filter(|u| u.deleted_at.is_none() && u.clerk_user_id.starts_with(CLERK_USER_ID_PREFIX))
            .collect();
        if !live.is_empty() {
            let request = ListRequest {
                limit: STORED_PAGE,
                offset: 0,
                created_after: None,
                user_ids: live.iter().map(|u| u.clerk_user_id.clone()).collect(),
            };
            let present: HashSet<String> = self
                .list(&request)
                .await?
                .into_iter()
                .filter_map(|entry| entry.id)
                .collect();
            for user in live.iter().filter(|u| !present.contains(&u.clerk_user_id)) {
                self.confirm(user).await?;
            }
        }
        Ok(page.next.map(|cursor| Progress::Stored {
            cursor: Some(cursor),
        }))
    }

    /// A stored user Clerk's list left out: tombstoned only when Clerk answers 404 for it.
    async fn confirm(&mut self, user: &User) -> Result<(), Stop> {
        let id = user.clerk_user_id.as_str();
        let found = self
            .ask(|http, api_url, key| async move {
                clerk_api::get_user(http, &api_url, key.as_ref(), id).await
            })
            .await?;
        match found {
            Some(clerk_user) => {
                // Listed late (the list is eventually consistent): apply it like any other.
                self.summary.scanned += 1;
                let read_ms = self.r.services.clock.unix_millis();
                self.apply(&clerk_user, Some(user), read_ms).await
            }
            None if self.tombstones_left == 0 => {
                // Many users gone at once is more likely a key of another Clerk instance
                // than a mass deletion: tombstones are for good, so stop and say so.
                tracing::error!(
                    limit = self.r.services.config.reconcile_max_tombstones,
                    "tombstone limit of this run reached; stopping (RECONCILE_MAX_TOMBSTONES)"
                );
                Err(Stop::Failed("tombstone-limit"))
            }
            None => {
                self.tombstones_left -= 1;
                let now_ms = self.r.services.clock.unix_millis();
                match self
                    .r
                    .services
                    .store
                    .deactivate(&user.clerk_user_id, now_ms)
                    .await
                {
                    Ok(_) => {
                        self.summary.tombstoned += 1;
                        tracing::info!(clerk_user_id = %user.clerk_user_id, "gone from Clerk (404): tombstoned");
                        Ok(())
                    }
                    // Its `user.deleted` arrived meanwhile.
                    Err(StoreError::Stale) => {
                        self.summary.unchanged += 1;
                        Ok(())
                    }
                    Err(error) => Err(store_failed(error)),
                }
            }
        }
    }

    async fn list(&mut self, request: &ListRequest) -> Result<Vec<Listed>, Stop> {
        self.ask(|http, api_url, key| async move {
            clerk_api::list_users(http, &api_url, key.as_ref(), request).await
        })
        .await
    }

    /// One Backend API call, paced; a 429 waits as long as `Retry-After` says when the
    /// deadline allows, else the run stops (its progress is saved).
    async fn ask<T, F, Fut>(&mut self, call: F) -> Result<T, Stop>
    where
        F: Fn(&'a reqwest::Client, String, Option<Secret>) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let mut throttled_in_a_row = 0;
        loop {
            self.pacer.wait().await;
            if Instant::now() >= self.stop_at {
                // The page is redone by the next run: applying it again writes nothing.
                return Err(Stop::OutOfTime);
            }
            self.summary.requests += 1;
            let api_url = self.r.services.config.api_url.clone();
            match call(&self.r.http, api_url, self.secret_key.clone()).await {
                Ok(answer) => return Ok(answer),
                Err(ApiError::RateLimited { retry_after }) => {
                    self.summary.throttled += 1;
                    throttled_in_a_row += 1;
                    let resume_at = Instant::now().checked_add(retry_after);
                    let Some(resume_at) = resume_at.filter(|at| *at < self.stop_at) else {
                        tracing::warn!(?retry_after, "rate limited past the deadline; stopping");
                        return Err(Stop::OutOfTime);
                    };
                    if throttled_in_a_row > MAX_THROTTLED_IN_A_ROW {
                        tracing::warn!("rate limited again and again; stopping until the next run");
                        return Err(Stop::OutOfTime);
                    }
                    tracing::info!(?retry_after, "rate limited (429); waiting as asked");
                    tokio::time::sleep_until(resume_at).await;
                }
                Err(error) => {
                    tracing::error!(%error, "Backend API unavailable");
                    return Err(Stop::Failed(match error {
                        ApiError::NoSecretKey => "secret-key-missing",
                        _ => "clerk-unavailable",
                    }));
                }
            }
        }
    }

    /// The secret key, from the same secret as the other functions.
    async fn secret_key(&self) -> Result<Secret, Stop> {
        let secrets = self
            .r
            .services
            .secrets
            .get_well_formed(KEYS)
            .await
            .map_err(|error| {
                tracing::error!(%error, "secrets unavailable");
                Stop::Failed("secrets-unavailable")
            })?;
        if let Some(bad) = secrets.malformed(SECRET_KEY_VAR) {
            tracing::error!(
                var = bad.var,
                reason = bad.reason,
                "CLERK_SECRET_KEY is malformed"
            );
            return Err(Stop::Failed("secret-key-malformed"));
        }
        secrets.secret_key.clone().ok_or_else(|| {
            tracing::error!("CLERK_SECRET_KEY is not set: nothing to reconcile with");
            Stop::Failed("secret-key-missing")
        })
    }
}

fn store_failed(error: StoreError) -> Stop {
    tracing::error!(%error, "user store unavailable");
    Stop::Failed("store-unavailable")
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
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
