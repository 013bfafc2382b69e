//! `users`: the user API behind the authorizer.
//!
//! It trusts the authorizer's context and never re-verifies tokens. Routes: `GET /me`,
//! `GET /protected`, `GET /users` (admin), `GET /users/{id}` (self or admin),
//! `PATCH /users/{id}` (admin). Errors are RFC 9457 problem details with a stable `code`.
//! CORS is API Gateway's (the template's `CorsConfiguration`): it answers preflights and
//! replaces whatever CORS headers a function sets, so this one sets none.

pub mod caller;
pub mod cursor;
pub mod event;
pub mod problem;
pub mod view;

use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use serde_json::{Map, Value, json};
use shared::clerk::{self, ClerkUser};
use shared::clerk_api::ApiError;
use shared::store::{ClerkProfile, FlagsPatch, ListQuery, StoreError};
use shared::{CallerContext, Services, User, dev};
use tokio::sync::OnceCell;
use uuid::Uuid;

use cursor::CursorCodec;
pub use problem::{Code, Problem};
use problem::{internal, unavailable};

/// Largest PATCH body read.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// Page size when `limit` is not given.
const DEFAULT_LIMIT: u32 = 20;

/// Everything one warm instance needs, built once at cold start.
pub struct Users {
    services: Services,
    dev_user_ready: OnceCell<()>,
}

/// The routes, matched on method and path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Me,
    Protected,
    ListUsers,
    GetUser(String),
    PatchUser(String),
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
            Route::ListUsers => self.list_users(&me, request).await,
            Route::GetUser(id) => self.get_user(&me, &id).await,
            Route::PatchUser(id) => self.patch_user(&me, &id, request).await,
        }
    }

    /// `GET /users/{id}`: the caller themself, or anyone for an admin.
    async fn get_user(&self, me: &User, id: &str) -> Result<Response<Body>, Problem> {
        if !is_self(me, id) {
            require_admin(me)?;
        }
        let user = self.find(id).await?;
        Ok(json_response(200, &view::user(&user)))
    }

    /// `PATCH /users/{id}` (admins): sets flags, never the admin's own way out.
    async fn patch_user(
        &self,
        me: &User,
        id: &str,
        request: &Request,
    ) -> Result<Response<Body>, Problem> {
        require_admin(me)?;
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
    /// webhook has not delivered it yet. 403 when it is deleted, inactive or unapproved,
    /// as the authorizer would decide now.
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
        match user.refusal() {
            Some(refusal) => Err(Problem::new(
                Code::Refused(refusal),
                "The caller may not use this API (deleted, deactivated or unapproved).",
            )),
            None => Ok(user),
        }
    }

    async fn lazy_sync(&self, clerk_user_id: &str) -> Result<User, Problem> {
        let secrets = self.services.secrets.get().await.map_err(|error| {
            tracing::error!(%error, "secrets unavailable");
            unavailable(Code::SecretsUnavailable)
        })?;
        let http = self.services.http().map_err(|error| {
            tracing::error!(%error, "no HTTP client for the Backend API");
            unavailable(Code::ClerkUnavailable)
        })?;
        let fetched = shared::clerk_api::get_user(
            http,
            &self.services.config.api_url,
            secrets.secret_key.as_ref(),
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
    async fn list_users(&self, me: &User, request: &Request) -> Result<Response<Body>, Problem> {
        require_admin(me)?;
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
        let secrets = self.services.secrets.get().await.map_err(|error| {
            tracing::error!(%error, "secrets unavailable");
            unavailable(Code::SecretsUnavailable)
        })?;
        Ok(secrets
            .secret_key
            .as_ref()
            .map(|key| CursorCodec::new(key.expose().as_bytes())))
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

fn match_route(request: &Request) -> Result<Route, Problem> {
    let path = route_path(request);
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let method = request.method();
    let get_only = |route: Route| {
        if method == http::Method::GET {
            Ok(route)
        } else {
            Err(Problem::method_not_allowed("GET"))
        }
    };
    match segments.as_slice() {
        ["me"] => get_only(Route::Me),
        ["protected"] => get_only(Route::Protected),
        ["users"] => get_only(Route::ListUsers),
        ["users", id] if !id.is_empty() => match *method {
            http::Method::GET => Ok(Route::GetUser((*id).to_owned())),
            http::Method::PATCH => Ok(Route::PatchUser((*id).to_owned())),
            _ => Err(Problem::method_not_allowed("GET, PATCH")),
        },
        _ => Err(Problem::new(Code::RouteNotFound, "No such route.")),
    }
}

/// The path without a leading stage name (HTTP APIs keep it in `rawPath` on named stages).
fn route_path(request: &Request) -> String {
    let raw = request.raw_http_path();
    let raw = if raw.is_empty() {
        request.uri().path()
    } else {
        raw
    };
    let stage = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.stage.clone(),
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.stage.clone(),
        _ => None,
    };
    match stage.filter(|s| s != "$default") {
        Some(stage) => {
            let prefix = format!("/{stage}");
            match raw.strip_prefix(&prefix) {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => rest.to_owned(),
                _ => raw.to_owned(),
            }
        }
        None => raw.to_owned(),
    }
}

/// True when `id` (ours or Clerk's) names `user`.
fn is_self(user: &User, id: &str) -> bool {
    user.clerk_user_id == id || user.id.to_string() == id
}

/// The stored flag decides, not the (possibly cached) context's.
fn require_admin(caller: &User) -> Result<(), Problem> {
    if caller.is_admin {
        Ok(())
    } else {
        Err(Problem::new(
            Code::AdminRequired,
            "This route is for admins.",
        ))
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

/// 409 when an admin's patch would take away their own admin flag, or lock them out (an
/// inactive or unapproved caller is refused on the next request).
fn refuse_self_lockout(me: &User, target: &User, patch: &FlagsPatch) -> Result<(), Problem> {
    if target.clerk_user_id != me.clerk_user_id {
        return Ok(());
    }
    if patch.is_admin == Some(false) {
        return Err(Problem::new(
            Code::SelfDemotion,
            "An admin cannot remove their own admin flag.",
        )
        .with_field("is_admin"));
    }
    let lockout = [
        ("is_active", patch.is_active),
        ("is_approved", patch.is_approved),
    ]
    .into_iter()
    .find(|(_, value)| *value == Some(false));
    match lockout {
        Some((field, _)) => Err(Problem::new(
            Code::SelfDeactivation,
            "An admin cannot deactivate or unapprove themself.",
        )
        .with_field(field)),
        None => Ok(()),
    }
}

/// `GET /users` query parameters, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ListParams {
    limit: u32,
    active: Option<bool>,
}

/// Reads `limit` (1–100, default 20) and `active` (`true`/`false`) through `first`, which
/// gives a parameter's first value.
fn list_params<'a>(first: impl Fn(&str) -> Option<&'a str>) -> Result<ListParams, Problem> {
    let limit = match first("limit") {
        None => DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=shared::store::MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| {
                Problem::new(Code::LimitInvalid, "limit must be 1 to 100.").with_field("limit")
            })?,
    };
    let active = match first("active") {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => {
            return Err(
                Problem::new(Code::ActiveInvalid, "active must be true or false.")
                    .with_field("active"),
            );
        }
    };
    Ok(ListParams { limit, active })
}

/// The PATCH body: only `is_approved`, `is_admin`, `is_active`, each a boolean.
fn parse_patch(body: &Body) -> Result<FlagsPatch, Problem> {
    let bytes: &[u8] = match body {
        Body::Empty => b"",
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => b"",
    };
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Problem::new(
            Code::BodyTooLarge,
            "The body is larger than 64 KiB.",
        ));
    }
    let object: Map<String, Value> = serde_json::from_slice(bytes)
        .map_err(|_| Problem::new(Code::BodyInvalid, "The body must be a JSON object."))?;
    let mut patch = FlagsPatch::default();
    for (name, value) in &object {
        let slot = match name.as_str() {
            "is_approved" => &mut patch.is_approved,
            "is_admin" => &mut patch.is_admin,
            "is_active" => &mut patch.is_active,
            _ => {
                return Err(Problem::new(
                    Code::FieldNotAllowed,
                    format!("{name} cannot be set; allowed: is_approved, is_admin, is_active."),
                )
                .with_field(name.clone()));
            }
        };
        let Value::Bool(flag) = value else {
            return Err(
                Problem::new(Code::FieldInvalid, format!("{name} must be true or false."))
                    .with_field(name.clone()),
            );
        };
        *slot = Some(*flag);
    }
    if object.is_empty() {
        return Err(Problem::new(
            Code::NoFields,
            "Set at least one of is_approved, is_admin, is_active.",
        ));
    }
    Ok(patch)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&'static str, &'static str)]) -> Result<ListParams, Problem> {
        list_params(|name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v))
    }

    #[test]
    fn list_parameters_default_and_bound() {
        assert_eq!(
            params(&[]).unwrap(),
            ListParams {
                limit: 20,
                active: None
            }
        );
        assert_eq!(
            params(&[("limit", "100"), ("active", "false")]).unwrap(),
            ListParams {
                limit: 100,
                active: Some(false)
            }
        );
        for bad in ["0", "101", "-1", "ten", ""] {
            let problem = params(&[("limit", bad)]).unwrap_err();
            assert_eq!(
                (problem.status, problem.code),
                (400, "limit-invalid"),
                "{bad}"
            );
        }
        let problem = params(&[("active", "yes")]).unwrap_err();
        assert_eq!((problem.status, problem.code), (400, "active-invalid"));
    }
}
