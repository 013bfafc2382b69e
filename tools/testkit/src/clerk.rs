//! A fake Clerk (JWKS and Backend API) on loopback: canned replies per path, every request
//! recorded.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Bytes;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::keys::TestKey;

/// One canned response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    /// `body` as JSON with `status`, answered at once.
    pub fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    /// The same reply, sent after `delay`.
    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// The request target: path and query.
    pub path: String,
    pub authorization: Option<String>,
    /// `Content-Type`.
    pub content_type: Option<String>,
    /// `Clerk-API-Version`.
    pub api_version: Option<String>,
    /// The body, as text.
    pub body: String,
}

#[derive(Default)]
struct Routes {
    replies: HashMap<String, Reply>,
    /// Replies chosen by the JSON body's credential field (`token`, `secret`,
    /// `access_token`): the Backend API's verify endpoints.
    by_body: HashMap<(String, String), Reply>,
    seen: Vec<Seen>,
}

/// A fake Clerk on `127.0.0.1:<random port>`: serves whatever [`FakeClerk::set`] says per
/// path (404 otherwise), and records every request.
#[derive(Clone)]
pub struct FakeClerk {
    addr: SocketAddr,
    routes: Arc<Mutex<Routes>>,
}

impl FakeClerk {
    /// Starts the server on the current tokio runtime.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let routes = Arc::new(Mutex::new(Routes::default()));
        let shared = Arc::clone(&routes);
        crate::serve::serve(listener, move |req| answer(req, Arc::clone(&shared)));
        Self { addr, routes }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers `path` with `reply` from now on.
    pub fn set(&self, path: &str, reply: Reply) {
        self.routes
            .lock()
            .unwrap()
            .replies
            .insert(path.to_owned(), reply);
    }

    /// Answers a POST to `path` whose JSON body carries `credential` (as `token`, `secret` or
    /// `access_token`, the fields of Clerk's verify endpoints) with `reply`; other bodies
    /// get the Backend API's 404.
    pub fn set_for_body(&self, path: &str, credential: &str, reply: Reply) {
        self.routes
            .lock()
            .unwrap()
            .by_body
            .insert((path.to_owned(), credential.to_owned()), reply);
    }

    /// Serves a JWKS of `keys` at `path`.
    pub fn serve_keys(&self, path: &str, keys: &[&TestKey]) {
        let jwks = json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() });
        self.set(path, Reply::json(200, &jwks));
    }

    /// Requests received so far for `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.routes
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|s| s.path == path)
            .count()
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.routes.lock().unwrap().seen.clone()
    }
}

async fn answer(req: Request<Bytes>, routes: Arc<Mutex<Routes>>) -> Response<Full<Bytes>> {
    let path = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let text = |name: &str| {
        req.headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let body = String::from_utf8_lossy(req.body()).into_owned();
    let credential = serde_json::from_str::<Value>(&body).ok().and_then(|json| {
        ["token", "secret", "access_token"]
            .iter()
            .find_map(|field| json.get(*field).and_then(Value::as_str).map(str::to_owned))
    });
    let reply = {
        let mut routes = routes.lock().unwrap();
        routes.seen.push(Seen {
            method: req.method().to_string(),
            path: path.clone(),
            authorization: text(header::AUTHORIZATION.as_str()),
            content_type: text(header::CONTENT_TYPE.as_str()),
            api_version: text("clerk-api-version"),
            body,
        });
        let by_body = credential.and_then(|c| routes.by_body.get(&(path.clone(), c)).cloned());
        by_body.or_else(|| routes.replies.get(&path).cloned())
    };
    let reply = reply.unwrap_or_else(|| {
        Reply::json(
            404,
            &json!({ "errors": [{ "code": "resource_not_found" }] }),
        )
    });
    tokio::time::sleep(reply.delay).await;
    Response::builder()
        .status(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(reply.body)))
        .unwrap()
}
