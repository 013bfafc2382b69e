//! `users`: the user API behind the authorizer.
//!
//! It trusts the authorizer's context and never re-verifies tokens. Routes: `GET /me`,
//! `GET /protected`, `GET /users` (admin), `GET /users/{id}` (self or admin),
//! `PATCH /users/{id}` (admin). Errors are RFC 9457 problem details with a stable `code`.
//! CORS is API Gateway's (the template's `CorsConfiguration`): it answers preflights and
//! replaces whatever CORS headers a function sets, so this one sets none.

mod access;
pub mod caller;
pub mod cursor;
pub mod event;
mod input;
pub mod problem;
pub mod view;

use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{Value, json};
use shared::clerk::{self, ClerkUser};
use shared::clerk_api::ApiError;
use shared::secrets::SECRET_KEY_VAR;
use shared::store::{ClerkProfile, ListQuery, StoreError};
use shared::{CallerContext, Secret, Services, User, dev};
use tokio::sync::OnceCell;
use uuid::Uuid;

use access::{is_self, refuse_self_lockout, require_admin};
use cursor::CursorCodec;
use input::{ListParams, Route, list_params, match_route, parse_patch};
pub use problem::{Code, Problem};
use problem::{internal, unavailable};

/// The keys this function uses: refused at start-up when malformed in the environment.
pub const KEYS: &[&str] = &[SECRET_KEY_VAR];

/// Everything one warm instance needs, built once at cold start.
pub struct Users {
    services: Services,
    dev_user_ready: OnceCell<()>,
}

impl Users {
    /// Assembles the API.
    pub fn new(services: Services) -> Self {
        Self {
            services,
            dev_user_ready: OnceCell::new(),
        }
    }

    /// Answers one request.
    pub async fn respond(&self, request: &Request) -> Response<Body> {
        match self.route(request).await {
            Ok(response) => response,
            Err(problem) => {
                let status = problem.status.to_string();
                shared::metrics::count(
                    "UsersErrors",
                    &[("Status", status.as_str()), ("Code", problem.code)],
                );
                if problem.status >= 500 {
                    tracing::warn!(
                        code = problem.code,
                        status = problem.status,
                        "request failed"
                    );
                }
                problem.response()
            }
        }
    }

    async fn route(&self, request: &Request) -> Result<Response<Body>, Problem> {
        let route = match_route(request)?;
        let caller = if self.services.config.auth_disabled {
            self.ensure_dev_user().await?;
            CallerContext::dev()
        } else {
            let config = &self.services.config;
            let skew = i64::try_from(config.clock_skew.as_secs()).unwrap_or(i64::MAX);
            let now = self.services.clock.unix_seconds();
            caller::from_request_context(request.request_context_ref(), now, skew)?
        };
        // The caller's record as stored now, not as the authorizer saw it: API Gateway may
        // serve a cached allow for a while after the user was blocked or demoted.
        let me = self.caller_record(&caller).await?;
        match route {
            Route::Me => Ok(json_response(200, &view::user(&me))),
            Route::Protected => Ok(protected(&me)),
            Route::ListUsers => self.list_users(&me, &caller, request).await,
            Route::GetUser(id) => self.get_user(&me, &caller, &id).await,
            Route::PatchUser(id) => self.patch_user(&me, &caller, &id, request).await,
        }
    }

    /// `GET /users/{id}`: the caller themself, or anyone for an admin.
    async fn get_user(
        &self,
        me: &User,
        caller: &CallerContext,
        id: &str,
    ) -> Result<Response<Body>, Problem> {
        if !is_self(me, id) {
            require_admin(me, caller)?;
        }
        let user = self.find(id).await?;
        Ok(json_response(200, &view::user(&user)))
    }

    /// `PATCH /users/{id}` (admins): sets flags, never the admin's own way out.
    async fn patch_user(
        &self,
        me: &User,
        caller: &CallerContext,
        id: &str,
        request: &Request,
    ) -> Result<Response<Body>, Problem> {
        require_admin(me, caller)?;
        let patch = parse_patch(request.body())?;
        let target = self.find(id).await?;
        refuse_self_lockout(me, &target, &patch)?;
        let updated = self
            .services
            .store
            .set_flags(&target.clerk_user_id, patch)
            .await?;
        tracing::info!(admin = %me.clerk_user_id, target = %updated.clerk_user_id, "flags changed");
        Ok(json_response(200, &view::user(&updated)))
    }

    /// The caller's stored record; fetched from Clerk and stored (lazy sync) when the
    /// webhook has not delivered it yet. 403 when it is deleted, banned, locked, inactive
    /// or unapproved, as the authorizer would decide now.
    async fn caller_record(&self, caller: &CallerContext) -> Result<User, Problem> {
        let stored = self
            .services
            .store
            .get_by_clerk_id(&caller.clerk_user_id)
            .await?;
        let user = match stored {
            Some(user) => user,
            None => self.lazy_sync(&caller.clerk_user_id).await?,
        };
        match user.refusal(self.services.clock.unix_millis()) {
            Some(refusal) => Err(Problem::new(
                Code::Refused(refusal),
                "The caller may not use this API (deleted, banned, locked, deactivated or unapproved).",
            )),
            None => Ok(user),
        }
    }

    async fn lazy_sync(&self, clerk_user_id: &str) -> Result<User, Problem> {
        let secret_key = self.secret_key().await?;
        let http = self.services.http().map_err(|error| {
            tracing::error!(%error, "no HTTP client for the Backend API");
            unavailable(Code::ClerkUnavailable)
        })?;
        let fetched = shared::clerk_api::get_user(
            http,
            &self.services.config.api_url,
            secret_key.as_ref(),
            clerk_user_id,
        )
        .await;
        let clerk_user: ClerkUser = match fetched {
            Ok(Some(user)) => user,
            Ok(None) => {
                return Err(Problem::new(Code::UserNotFound, "Clerk has no such user."));
            }
            Err(ApiError::InvalidId) => {
                return Err(Problem::new(
                    Code::Unauthenticated,
                    "No authenticated caller.",
                ));
            }
            Err(error) => {
                tracing::warn!(%error, clerk_user_id, "lazy sync: Clerk unreachable");
                return Err(unavailable(Code::ClerkUnavailable));
            }
        };
        let now_ms = self.services.clock.unix_seconds().saturating_mul(1000);
        let flags = clerk::new_user_flags(self.services.config.auto_approve_users);
        match shared::mirror::mirror_user(&self.services.store, &clerk_user, now_ms, flags).await {
            Ok(written) => {
                tracing::info!(clerk_user_id, "lazy sync stored the user");
                Ok(written.user)
            }
            // The webhook won the race: read what it stored.
            Err(StoreError::Stale) => self
                .services
                .store
                .get_by_clerk_id(clerk_user_id)
                .await?
                .ok_or_else(internal),
            Err(error) => Err(error.into()),
        }
    }

    /// `GET /users` (admins): one page, or the one user with an email.
    async fn list_users(
        &self,
        me: &User,
        caller: &CallerContext,
        request: &Request,
    ) -> Result<Response<Body>, Problem> {
        require_admin(me, caller)?;
        let params = request.query_string_parameters();
        let ListParams { limit, active } = list_params(|name| params.first(name))?;
        if let Some(email) = params.first("email") {
            // Unique: a page of at most one user, never a next page.
            let found = self.services.store.get_by_email(email).await?;
            let users: Vec<Value> = found
                .iter()
                .filter(|u| active.is_none_or(|a| u.is_active == a))
                .map(view::user)
                .collect();
            return Ok(json_response(
                200,
                &json!({ "users": users, "next_cursor": null }),
            ));
        }
        let codec = self.cursor_codec().await?;
        let cursor = params
            .first("cursor")
            .map(|c| {
                codec
                    .as_ref()
                    .ok_or_else(cursor_key_missing)?
                    .decode(c, active)
            })
            .transpose()?;
        let page = self
            .services
            .store
            .list(&ListQuery {
                limit,
                cursor,
                active,
            })
            .await?;
        let users: Vec<Value> = page.users.iter().map(view::user).collect();
        let next = match page.next {
            None => None,
            Some(c) => Some(
                codec
                    .as_ref()
                    .ok_or_else(cursor_key_missing)?
                    .encode(&c, active),
            ),
        };
        Ok(json_response(
            200,
            &json!({ "users": users, "next_cursor": next }),
        ))
    }

    /// The cursor codec, keyed by the secret key; `None` without one (a key derived from
    /// anything public would let clients forge cursors).
    async fn cursor_codec(&self) -> Result<Option<CursorCodec>, Problem> {
        Ok(self
            .secret_key()
            .await?
            .map(|key| CursorCodec::new(key.expose().as_bytes())))
    }

    /// `CLERK_SECRET_KEY`, `None` when unset. A malformed one forces the rate-limited
    /// re-read (a fix is picked up within the refresh interval) and is a 500 that says so.
    async fn secret_key(&self) -> Result<Option<Secret>, Problem> {
        let secrets = self
            .services
            .secrets
            .get_well_formed(KEYS)
            .await
            .map_err(|error| {
                tracing::error!(%error, "secrets unavailable");
                unavailable(Code::SecretsUnavailable)
            })?;
        if let Some(bad) = secrets.malformed(SECRET_KEY_VAR) {
            tracing::error!(
                var = bad.var,
                reason = bad.reason,
                "a Clerk key is malformed"
            );
            return Err(Problem::new(
                Code::SecretKeyMalformed,
                "The deployment's CLERK_SECRET_KEY is malformed.",
            ));
        }
        Ok(secrets.secret_key.clone())
    }

    /// A user by our UUID or by Clerk id.
    async fn find(&self, id: &str) -> Result<User, Problem> {
        let found = match Uuid::parse_str(id) {
            Ok(uuid) => self.services.store.get_by_id(uuid).await,
            Err(_) if clerk::is_user_id(id) => self.services.store.get_by_clerk_id(id).await,
            Err(_) => return Err(not_found()),
        };
        found?.ok_or_else(not_found)
    }

    /// `AUTH_DISABLED`: the development user exists from the first request on.
    async fn ensure_dev_user(&self) -> Result<(), Problem> {
        self.dev_user_ready
            .get_or_try_init(|| async {
                let profile = ClerkProfile {
                    clerk_user_id: dev::DEV_CLERK_USER_ID.to_owned(),
                    email: Some(dev::DEV_EMAIL.to_owned()),
                    username: dev::DEV_USERNAME.to_owned(),
                    first_name: Some("Dev".to_owned()),
                    last_name: Some("User".to_owned()),
                    full_name: Some("Dev User".to_owned()),
                    image_url: None,
                    is_admin: Some(true),
                    clerk_updated_at: 1,
                    banned: false,
                    locked: false,
                    locked_until: None,
                };
                let flags = clerk::new_user_flags(true);
                match self
                    .services
                    .store
                    .create_with_id(dev::DEV_USER_ID, &profile, flags)
                    .await
                {
                    Ok(_) => {
                        tracing::warn!("AUTH_DISABLED: created the development user");
                        Ok(())
                    }
                    Err(StoreError::Conflict { .. }) => Ok(()), // it exists already
                    Err(error) => Err(error.into()),
                }
            })
            .await
            .map(|_| ())
    }
}

fn cursor_key_missing() -> Problem {
    tracing::error!("CLERK_SECRET_KEY is not set: pagination cursors cannot be signed");
    Problem::new(
        Code::CursorKeyMissing,
        "Pagination is unavailable: the deployment has no CLERK_SECRET_KEY to sign cursors with.",
    )
}

fn not_found() -> Problem {
    Problem::new(Code::UserNotFound, "No such user.")
}

/// `GET /protected`: the minimal protected route.
fn protected(me: &User) -> Response<Body> {
    json_response(
        200,
        &json!({
            "message": "You are authenticated",
            "user_id": me.id.to_string(),
            "email": me.email,
        }),
    )
}

fn json_response(status: u16, body: &Value) -> Response<Body> {
    problem::json(status, "application/json", body)
}

/// The Lambda handler.
pub async fn handler(
    users: &Users,
    request: Request,
) -> Result<Response<Body>, lambda_http::Error> {
    Ok(users.respond(&request).await)
}
