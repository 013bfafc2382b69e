//! A fake of the Backend API's users on loopback: `GET /v1/users` (the list, with `limit`,
//! `offset`, `order_by=+created_at`, `created_at_after` and repeated `user_id`, answering a
//! plain array as `User.List` does) and `GET /v1/users/{id}` (404 `resource_not_found` for
//! an unknown id), over a set of users a test changes at will, even while a run pages: with
//! 429s, delays and changes queued for given requests.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Bytes;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// A change made to the users when a given list request arrives.
type Change = Box<dyn FnOnce(&mut BTreeMap<String, Value>) + Send>;

#[derive(Default)]
struct State {
    /// Clerk's users by id.
    users: BTreeMap<String, Value>,
    /// Users answered by the list with this older object instead (a list that lags behind a
    /// webhook); `GET /v1/users/{id}` still answers the current one.
    lagging: BTreeMap<String, Value>,
    /// Statuses 429 still to answer, with their `Retry-After`.
    throttles: VecDeque<Option<u64>>,
    /// Changes to make when the n-th list request (from 1) arrives, before answering it.
    changes: Vec<(usize, Change)>,
    delay: Duration,
    /// List requests (from 1) answered 503.
    failing: Vec<usize>,
    /// The list answers newest first whatever `order_by` says.
    newest_first: bool,
    list_requests: usize,
    /// Every request: when, and its path and query.
    seen: Vec<(Instant, String)>,
}

/// The fake, on `127.0.0.1:<random port>`, answering only requests that carry `secret_key`.
#[derive(Clone)]
pub struct FakeUsers {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl FakeUsers {
    /// Starts the server on the current tokio runtime.
    pub async fn start(secret_key: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let bearer = format!("Bearer {secret_key}");
        crate::serve::serve(listener, move |req| {
            answer(req, Arc::clone(&shared), bearer.clone())
        });
        Self { addr, state }
    }

    /// `http://127.0.0.1:<port>`: the `CLERK_API_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds or replaces a user (a Clerk User object with at least `id` and `created_at`).
    pub fn put(&self, user: Value) {
        let id = user["id"].as_str().unwrap().to_owned();
        self.state.lock().unwrap().users.insert(id, user);
    }

    /// Deletes a user from Clerk.
    pub fn delete(&self, id: &str) {
        self.state.lock().unwrap().users.remove(id);
    }

    /// The list answers `older` for this user (until [`FakeUsers::put`] replaces it).
    pub fn lag(&self, older: Value) {
        let id = older["id"].as_str().unwrap().to_owned();
        self.state.lock().unwrap().lagging.insert(id, older);
    }

    /// The next request is answered 429, with this `Retry-After` (seconds) if any.
    pub fn throttle_next(&self, retry_after: Option<u64>) {
        self.state.lock().unwrap().throttles.push_back(retry_after);
    }

    /// Makes `change` when the `nth` list request (from 1) arrives, before answering it.
    pub fn on_list_request(
        &self,
        nth: usize,
        change: impl FnOnce(&mut BTreeMap<String, Value>) + Send + 'static,
    ) {
        self.state
            .lock()
            .unwrap()
            .changes
            .push((nth, Box::new(change)));
    }

    /// The `nth` list request (from 1) is answered 503, as an outage would.
    pub fn fail_list_request(&self, nth: usize) {
        self.state.lock().unwrap().failing.push(nth);
    }

    /// From now on the list ignores `order_by` and answers newest first (Clerk's default).
    pub fn ignore_order(&self) {
        self.state.lock().unwrap().newest_first = true;
    }

    /// Every answer waits this long first.
    pub fn set_delay(&self, delay: Duration) {
        self.state.lock().unwrap().delay = delay;
    }

    /// Every request so far: when it arrived, and its path and query.
    pub fn seen(&self) -> Vec<(Instant, String)> {
        self.state.lock().unwrap().seen.clone()
    }

    /// The users as Clerk has them now.
    pub fn users(&self) -> Vec<Value> {
        self.state.lock().unwrap().users.values().cloned().collect()
    }
}

/// A Clerk User object (the fields this project reads, in Clerk's shape).
pub fn clerk_user(
    id: &str,
    email: Option<&str>,
    username: &str,
    created_at: i64,
    updated_at: i64,
) -> Value {
    let addresses: Vec<Value> = email
        .map(|e| {
            json!({
                "id": format!("idn_{id}"), "object": "email_address", "email_address": e,
                "verification": { "status": "verified", "strategy": "email_code" },
                "linked_to": [],
            })
        })
        .into_iter()
        .collect();
    json!({
        "object": "user", "id": id, "username": username,
        "first_name": "Ann", "last_name": format!("v{updated_at}"),
        "image_url": "https://img.clerk.com/a",
        "email_addresses": addresses,
        "primary_email_address_id": email.map(|_| format!("idn_{id}")),
        "public_metadata": {}, "banned": false, "locked": false,
        "lockout_expires_in_seconds": null,
        "created_at": created_at, "updated_at": updated_at,
    })
}

async fn answer(
    req: Request<Bytes>,
    state: Arc<Mutex<State>>,
    bearer: String,
) -> Response<Full<Bytes>> {
    let target = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let authorized = req
        .headers()
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == bearer.as_bytes());
    let (delay, reply) = {
        let mut state = state.lock().unwrap();
        state.seen.push((Instant::now(), target.clone()));
        let delay = state.delay;
        let reply = if !authorized {
            (
                401,
                json!({ "errors": [{ "code": "authentication_invalid" }] }),
                None,
            )
        } else if let Some(retry_after) = state.throttles.pop_front() {
            let errors = json!({ "errors": [{ "code": "too_many_requests", "message": "Too many requests, retry later" }] });
            (429, errors, retry_after)
        } else {
            route(
                &mut state,
                req.uri().path(),
                req.uri().query().unwrap_or(""),
            )
        };
        (delay, reply)
    };
    tokio::time::sleep(delay).await;
    let (status, body, retry_after) = reply;
    let mut response = Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(seconds) = retry_after {
        response = response.header(header::RETRY_AFTER, seconds.to_string());
    }
    response
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}

fn route(state: &mut State, path: &str, query: &str) -> (u16, Value, Option<u64>) {
    let not_found =
        || json!({ "errors": [{ "message": "not found", "code": "resource_not_found" }] });
    if path == "/v1/users" {
        state.list_requests += 1;
        let nth = state.list_requests;
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut state.changes)
            .into_iter()
            .partition(|(n, _)| *n == nth);
        state.changes = later;
        for (_, change) in due {
            change(&mut state.users);
        }
        if state.failing.contains(&nth) {
            return (
                503,
                json!({ "errors": [{ "code": "service_unavailable" }] }),
                None,
            );
        }
        return match list(state, query) {
            Ok(users) => (200, Value::Array(users), None),
            Err(message) => (
                422,
                json!({ "errors": [{ "code": "form_param_invalid", "message": message }] }),
                None,
            ),
        };
    }
    match path.strip_prefix("/v1/users/") {
        Some(id) => match state.users.get(id) {
            Some(user) => (200, user.clone(), None),
            None => (404, not_found(), None),
        },
        None => (404, not_found(), None),
    }
}

fn list(state: &State, query: &str) -> Result<Vec<Value>, String> {
    let mut limit = 10;
    let mut offset = 0;
    let mut after = None;
    let mut ids = Vec::new();
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "limit" => limit = value.parse::<usize>().map_err(|e| e.to_string())?,
            "offset" => offset = value.parse::<usize>().map_err(|e| e.to_string())?,
            "created_at_after" => after = Some(value.parse::<i64>().map_err(|e| e.to_string())?),
            "order_by" if value == "+created_at" => {}
            "user_id" => ids.push(value.into_owned()),
            other => return Err(format!("unexpected parameter {other}={value}")),
        }
    }
    if !(1..=500).contains(&limit) || ids.len() > 100 {
        return Err("limit or user_id out of range".into());
    }
    let mut users: Vec<&Value> = state
        .users
        .iter()
        .filter(|(id, _)| ids.is_empty() || ids.contains(id))
        .map(|(id, user)| state.lagging.get(id).unwrap_or(user))
        .filter(|u| after.is_none_or(|t| u["created_at"].as_i64().unwrap_or(0) > t))
        .collect();
    users.sort_by_key(|u| {
        (
            u["created_at"].as_i64().unwrap_or(0),
            u["id"].as_str().unwrap_or("").to_owned(),
        )
    });
    if state.newest_first {
        users.reverse();
    }
    Ok(users
        .into_iter()
        .skip(offset)
        .take(limit)
        .cloned()
        .collect())
}
