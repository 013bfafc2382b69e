//! A run's Backend API calls: the secret key, and each request paced, bounded by the
//! deadline, and waiting out a 429 as its `Retry-After` says.

use shared::Secret;
use shared::clerk_api::{self, ApiError, ListRequest, Listed};
use shared::secrets::SECRET_KEY_VAR;
use tokio::time::Instant;

use crate::{KEYS, MAX_THROTTLED_IN_A_ROW, Run, Stop};

impl<'a> Run<'a> {
    pub(crate) async fn list(&mut self, request: &ListRequest) -> Result<Vec<Listed>, Stop> {
        self.ask(|http, api_url, key| async move {
            clerk_api::list_users(http, &api_url, key.as_ref(), request).await
        })
        .await
    }

    /// One Backend API call, paced; a 429 waits as long as `Retry-After` says when the
    /// deadline allows, else the run stops (its progress is saved).
    pub(crate) async fn ask<T, F, Fut>(&mut self, call: F) -> Result<T, Stop>
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
    pub(crate) async fn secret_key(&self) -> Result<Secret, Stop> {
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
