//! A local stand-in for the deployed HTTP API: routes from `template.yaml`, the authorizer
//! run in front of protected routes with its context injected (cargo-lambda's emulator sends
//! none), the webhook route public. Every function is its real binary behind its own
//! runtime API emulator; nothing is linked into the gateway.
//!
//! The authorizer is called as API Gateway calls it: a request missing an identity source
//! (or with an empty one) gets 401 without an invocation, and answers are cached under the
//! identity sources' values for the template's `ReauthorizeEvery` seconds, across routes. So
//! a decision that depends on anything outside the cache key shows up here as it would
//! deployed: one caller riding another's cached answer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Bytes;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;

use crate::cors::Cors;
use crate::{Function, HarnessError, RuntimeApi};

const TIMEOUT: Duration = Duration::from_secs(30);

/// Waits until one of a function's processes polls for an event; a process that ends first
/// (a configuration error at start-up) is reported at once with the end of its output.
async fn ready_or_exited(
    name: &str,
    api: &RuntimeApi,
    started: &mut [(Function, std::path::PathBuf)],
) -> Result<(), HarnessError> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if api.first_poll().is_some() {
            return Ok(());
        }
        if let Some(error) = api.take_init_error() {
            return Err(HarnessError::Init(format!("{name}: {error}")));
        }
        for (function, log) in started.iter_mut() {
            if let Some(code) = function.exit_code() {
                let text = std::fs::read_to_string(log.as_path()).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let output = lines[lines.len().saturating_sub(20)..].join("\n");
                return Err(HarnessError::Exited {
                    name: name.to_owned(),
                    code,
                    output,
                });
            }
        }
        if Instant::now() >= deadline {
            return Err(HarnessError::Timeout(TIMEOUT));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One route of the HTTP API, as `tools/template.py routes` prints it.
#[derive(Debug, Clone, Deserialize)]
pub struct RouteSpec {
    /// Binary of the integration.
    pub binary: String,
    /// HTTP method.
    pub method: String,
    /// Path template, `{name}` for a parameter.
    pub path: String,
    /// Behind the default authorizer.
    pub authorized: bool,
}

/// The routes and the authorizer of the template.
#[derive(Debug, Clone, Deserialize)]
pub struct Routes {
    /// Binary of the default authorizer.
    pub authorizer: String,
    /// The authorizer's identity sources (`Identity.Headers`): its cache key.
    pub identity_headers: Vec<String>,
    /// Whether `$context.routeKey` is an identity source (`Identity.Context`): answers are
    /// then cached per route too.
    #[serde(default)]
    pub identity_route_key: bool,
    /// The authorizer's own variables (`ROUTE_POLICIES`), parameters at their defaults;
    /// the environment given to [`Gateway::start`] overrides them.
    #[serde(default)]
    pub authorizer_environment: HashMap<String, String>,
    /// How long an answer is cached (`Identity.ReauthorizeEvery`); 0 turns caching off.
    pub ttl_seconds: u64,
    /// The API's `CorsConfiguration`; `None` when it has none.
    pub cors: Option<Cors>,
    /// The environment variables the template declares for every function.
    #[serde(default)]
    pub environment: Vec<String>,
    /// The routes.
    pub routes: Vec<RouteSpec>,
}

/// An authorizer answer as API Gateway caches it: allow with a context, or deny.
#[derive(Debug, Clone)]
enum Verdict {
    Allow(Value),
    Deny,
}

/// The running gateway and its functions.
pub struct Gateway {
    routes: Routes,
    apis: HashMap<String, RuntimeApi>,
    cors: Option<Cors>,
    cache: Mutex<HashMap<Vec<String>, (Instant, Verdict)>>,
    authorizer_calls: AtomicUsize,
    _functions: Vec<Function>,
}

impl Gateway {
    /// Spawns every function binary from `bin_dir` with `env`, logs into `log_dir`.
    pub async fn start(
        routes: Routes,
        bin_dir: &Path,
        env: &[(String, String)],
        log_dir: &Path,
    ) -> Result<Self, HarnessError> {
        Self::start_with(routes, bin_dir, env, &HashMap::new(), log_dir).await
    }

    /// [`Gateway::start`] with instances chosen per function (by binary name): one process
    /// per entry, each with its variables on top of `env`, all taking events from the
    /// function's one queue as concurrent Lambda instances do. One instance by default.
    pub async fn start_with(
        routes: Routes,
        bin_dir: &Path,
        env: &[(String, String)],
        instances: &HashMap<String, Vec<Vec<(String, String)>>>,
        log_dir: &Path,
    ) -> Result<Self, HarnessError> {
        std::fs::create_dir_all(log_dir)?;
        let mut names: Vec<String> = routes.routes.iter().map(|r| r.binary.clone()).collect();
        names.push(routes.authorizer.clone());
        names.sort();
        names.dedup();
        let mut apis = HashMap::new();
        let mut functions = Vec::new();
        for name in names {
            let api = RuntimeApi::start().await?;
            let single = vec![Vec::new()];
            let mut started = Vec::new();
            for (i, extra) in instances.get(&name).unwrap_or(&single).iter().enumerate() {
                let log = match i {
                    0 => log_dir.join(format!("{name}.log")),
                    _ => log_dir.join(format!("{name}-{i}.log")),
                };
                let mut instance_env: Vec<(String, String)> = if name == routes.authorizer {
                    routes.authorizer_environment.clone().into_iter().collect()
                } else {
                    Vec::new()
                };
                // Later entries win: the caller's environment over the template's defaults.
                instance_env.extend(env.iter().cloned());
                instance_env.extend(extra.iter().cloned());
                let function =
                    Function::spawn(&bin_dir.join(&name), &api, &instance_env, Some(&log))?;
                started.push((function, log));
            }
            ready_or_exited(&name, &api, &mut started).await?;
            functions.extend(started.into_iter().map(|(function, _)| function));
            apis.insert(name, api);
        }
        // `CORS_ORIGINS` stands in for the template's `CorsOrigins` parameter.
        let mut cors = routes.cors.clone();
        if let (Some(cors), Some((_, origins))) =
            (cors.as_mut(), env.iter().find(|(k, _)| k == "CORS_ORIGINS"))
        {
            cors.allow_origins = origins
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
        }
        Ok(Self {
            routes,
            apis,
            cors,
            cache: Mutex::new(HashMap::new()),
            authorizer_calls: AtomicUsize::new(0),
            _functions: functions,
        })
    }

    /// How many times the authorizer has been invoked (cache hits and requests refused for
    /// a missing identity source do not count).
    pub fn authorizer_calls(&self) -> usize {
        self.authorizer_calls.load(Ordering::SeqCst)
    }

    /// The identity sources' values (from the event's headers, names lowercased), or `None`
    /// when one is missing or empty.
    fn identity(&self, event: &Value) -> Option<Vec<String>> {
        let no_headers = Map::new();
        let headers = event["headers"].as_object().unwrap_or(&no_headers);
        let mut key: Vec<String> = self
            .routes
            .identity_headers
            .iter()
            .map(|name| {
                headers
                    .get(&name.to_ascii_lowercase())
                    .and_then(Value::as_str)
                    .filter(|value| !value.trim().is_empty())
                    .map(str::to_owned)
            })
            .collect::<Option<_>>()?;
        if self.routes.identity_route_key {
            key.push(event["routeKey"].as_str()?.to_owned());
        }
        Some(key)
    }

    fn cached(&self, key: &[String]) -> Option<Verdict> {
        let ttl = Duration::from_secs(self.routes.ttl_seconds);
        let cache = self.cache.lock().ok()?;
        let (at, verdict) = cache.get(key)?;
        (at.elapsed() < ttl).then(|| verdict.clone())
    }

    fn remember(&self, key: Vec<String>, verdict: Verdict) {
        if self.routes.ttl_seconds == 0 {
            return;
        }
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, (Instant::now(), verdict));
        }
    }

    /// Serves on `addr` (port 0: any free port); returns the bound address.
    pub async fn serve(self: Arc<Self>, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        testkit::serve::serve(listener, move |req| {
            let gateway = Arc::clone(&self);
            async move { gateway.handle(req).await }
        });
        Ok(bound)
    }

    /// Every answer, the gateway's own included, gets the configured CORS headers in place
    /// of any the function set (see [`crate::cors`]).
    async fn handle(&self, req: Request<Bytes>) -> Response<Full<Bytes>> {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let origin = header("origin");
        let preflight = req.method() == http::Method::OPTIONS
            && header("access-control-request-method").is_some();
        let mut response = self.respond(req).await;
        if let Some(cors) = &self.cors {
            cors.apply(response.headers_mut(), origin.as_deref(), preflight);
        }
        response
    }

    async fn respond(&self, req: Request<Bytes>) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        if parts.method == http::Method::OPTIONS && self.cors.is_some() {
            // No route takes OPTIONS: API Gateway answers the preflight itself.
            let mut response = Response::new(Full::new(Bytes::new()));
            *response.status_mut() = StatusCode::NO_CONTENT;
            return response;
        }
        let Some((route, params)) = self.route(parts.method.as_str(), parts.uri.path()) else {
            return message(StatusCode::NOT_FOUND, "Not Found");
        };
        let mut event = proxy_event(&parts, route, params);
        if route.authorized {
            match self.authorize(&event, route).await {
                Ok(context) => event["requestContext"]["authorizer"] = json!({ "lambda": context }),
                Err(refusal) => return refusal,
            }
        }
        // The authorizer's event has no body; the integration's has.
        if !body.is_empty() {
            match std::str::from_utf8(&body) {
                Ok(text) => event["body"] = json!(text),
                Err(_) => {
                    event["body"] = json!(STANDARD.encode(&body));
                    event["isBase64Encoded"] = json!(true);
                }
            }
        }
        let Some(api) = self.apis.get(&route.binary) else {
            return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
        };
        match api.invoke(event, TIMEOUT).await {
            Ok(outcome) if outcome.ok => proxy_response(&outcome.body),
            _ => message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
        }
    }

    /// The authorizer's verdict on `event` (a request to `route`): from the cache, keyed by
    /// the identity sources' values, or by invoking the authorizer. The context of an allow,
    /// or the answer API Gateway gives itself: 401 for a missing identity source or an
    /// `Unauthorized` error (never cached), 403 for a deny, 500 for anything else.
    async fn authorize(
        &self,
        event: &Value,
        route: &RouteSpec,
    ) -> Result<Value, Response<Full<Bytes>>> {
        let Some(identity) = self.identity(event) else {
            return Err(message(StatusCode::UNAUTHORIZED, "Unauthorized"));
        };
        let verdict = match self.cached(&identity) {
            Some(verdict) => verdict,
            None => {
                let mut auth_event = event.clone();
                auth_event["type"] = json!("REQUEST");
                auth_event["routeArn"] = json!(format!(
                    "arn:aws:execute-api:us-east-1:123456789012:local/$default/{}{}",
                    route.method,
                    event["rawPath"].as_str().unwrap_or_default()
                ));
                auth_event["identitySource"] = json!(identity);
                let internal =
                    || message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
                let api = self
                    .apis
                    .get(&self.routes.authorizer)
                    .ok_or_else(internal)?;
                self.authorizer_calls.fetch_add(1, Ordering::SeqCst);
                let verdict = match api.invoke(auth_event, TIMEOUT).await {
                    Ok(outcome)
                        if !outcome.ok && outcome.body["errorMessage"] == "Unauthorized" =>
                    {
                        // Not cached: every such request invokes the authorizer again.
                        return Err(message(StatusCode::UNAUTHORIZED, "Unauthorized"));
                    }
                    Ok(outcome) if outcome.ok && outcome.body["isAuthorized"] == true => {
                        Verdict::Allow(outcome.body["context"].clone())
                    }
                    Ok(outcome) if outcome.ok && outcome.body["isAuthorized"] == false => {
                        Verdict::Deny
                    }
                    _ => return Err(internal()),
                };
                self.remember(identity, verdict.clone());
                verdict
            }
        };
        match verdict {
            Verdict::Allow(context) => Ok(context),
            Verdict::Deny => Err(message(StatusCode::FORBIDDEN, "Forbidden")),
        }
    }

    fn route(&self, method: &str, path: &str) -> Option<(&RouteSpec, Map<String, Value>)> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        self.routes.routes.iter().find_map(|route| {
            if route.method != method {
                return None;
            }
            let template: Vec<&str> = route.path.trim_matches('/').split('/').collect();
            if template.len() != segments.len() {
                return None;
            }
            let mut params = Map::new();
            for (t, s) in template.iter().zip(&segments) {
                match t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                    Some(name) if !s.is_empty() => {
                        params.insert(name.to_owned(), json!(s));
                    }
                    Some(_) => return None,
                    None if t == s => {}
                    None => return None,
                }
            }
            Some((route, params))
        })
    }
}

/// The HTTP API (payload format 2.0) event API Gateway builds for this request to `route`,
/// without the body. Repeated headers arrive joined with commas, as API Gateway sends them
/// (and as its identity sources see them).
fn proxy_event(
    parts: &http::request::Parts,
    route: &RouteSpec,
    params: Map<String, Value>,
) -> Value {
    let method = parts.method.as_str();
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or_default();
    let headers: Map<String, Value> = parts
        .headers
        .keys()
        .map(|name| {
            let values: Vec<String> = parts
                .headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            (name.as_str().to_owned(), json!(values.join(",")))
        })
        .collect();
    let cookies: Vec<String> = parts
        .headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split("; ").map(str::to_owned).collect::<Vec<_>>())
        .collect();
    let route_key = format!("{} {}", route.method, route.path);
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "queryStringParameters": query_map(query),
        "pathParameters": params,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "local" },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": route_key,
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 0
        },
        "isBase64Encoded": false
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    event
}

/// `a=1&b=2` as the `queryStringParameters` object API Gateway sends (null when empty).
pub fn query_map(query: &str) -> Value {
    let map: Map<String, Value> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), json!(v))
        })
        .collect();
    if map.is_empty() {
        Value::Null
    } else {
        Value::Object(map)
    }
}

fn message(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(
        json!({ "message": text }).to_string(),
    )));
    *response.status_mut() = status;
    if let Ok(value) = "application/json".parse() {
        response.headers_mut().insert("content-type", value);
    }
    response
}

/// An API Gateway v2 proxy response (`statusCode`, `headers`, `body`, `isBase64Encoded`).
fn proxy_response(answer: &Value) -> Response<Full<Bytes>> {
    let status = answer["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(500);
    let body = answer["body"].as_str().unwrap_or_default();
    let bytes = if answer["isBase64Encoded"] == true {
        STANDARD.decode(body).unwrap_or_default()
    } else {
        body.as_bytes().to_vec()
    };
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(headers) = answer["headers"].as_object() {
        for (name, value) in headers {
            if let (Ok(name), Some(Ok(value))) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                value.as_str().map(http::HeaderValue::from_str),
            ) {
                response.headers_mut().insert(name, value);
            }
        }
    }
    response
}
