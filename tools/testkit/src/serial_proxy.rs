//! A DynamoDB proxy that applies one request at a time, with holds that force interleavings.
//!
//! DynamoDB applies each request atomically; moto does not isolate concurrent ones (a
//! cancelled transaction restores a copy of the whole table, wiping writes made meanwhile by
//! other requests). Functions that run at once therefore reach moto through this proxy: each
//! request is forwarded alone, as DynamoDB would apply it, while the processes still
//! interleave freely between their requests.
//!
//! Each client (one process, or a group of them) gets its own port, so a test can say "after
//! this process sends that request, hold its next one" ([`SerialProxy::hold_after`]), run
//! other deliveries meanwhile, then [`Hold::release`] it: an interleaving reproduced on demand.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Bytes;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// A running proxy: one port per client, all forwarding to one upstream, one at a time.
pub struct SerialProxy {
    inner: Arc<Inner>,
    addrs: Vec<SocketAddr>,
}

struct Inner {
    upstream: String,
    http: reqwest::Client,
    /// Held while a request is applied upstream: the one-at-a-time rule.
    turn: tokio::sync::Mutex<()>,
    holds: Mutex<Vec<Arc<HoldState>>>,
    forwarded: AtomicUsize,
    /// Requests forwarded per operation (`GetItem`, `TransactWriteItems`…).
    operations: Mutex<std::collections::BTreeMap<String, usize>>,
    /// Upper bound of the random pause before each request, in µs (0: none).
    jitter_micros: AtomicU64,
    /// State of the pause generator (SplitMix64).
    seed: AtomicU64,
}

/// A forced pause: once one of `clients` has sent a request of `operation` whose body
/// contains `needle`, that client's next request waits until released.
struct HoldState {
    clients: Vec<usize>,
    operation: String,
    needle: String,
    /// The client it tripped on.
    tripped: watch::Sender<Option<usize>>,
    released: watch::Sender<bool>,
}

/// A hold armed with [`SerialProxy::hold_after`]. Dropping it releases it.
pub struct Hold {
    state: Arc<HoldState>,
}

impl SerialProxy {
    /// Listens on `clients` loopback ports, forwarding to `upstream` (e.g. the moto server).
    pub async fn start(upstream: &str, clients: usize) -> std::io::Result<Self> {
        let inner = Arc::new(Inner {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .map_err(std::io::Error::other)?,
            turn: tokio::sync::Mutex::new(()),
            holds: Mutex::new(Vec::new()),
            forwarded: AtomicUsize::new(0),
            operations: Mutex::default(),
            jitter_micros: AtomicU64::new(0),
            seed: AtomicU64::new(0x5EED),
        });
        let mut addrs = Vec::with_capacity(clients);
        for client in 0..clients {
            let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
            addrs.push(listener.local_addr()?);
            let inner = Arc::clone(&inner);
            crate::serve::serve(listener, move |req| {
                let inner = Arc::clone(&inner);
                async move { inner.handle(client, req).await }
            });
        }
        Ok(Self { inner, addrs })
    }

    /// The endpoint URL `client` uses (`AWS_ENDPOINT_URL_DYNAMODB`).
    pub fn endpoint(&self, client: usize) -> String {
        format!("http://{}", self.addrs[client])
    }

    /// Pauses each request a random time before it queues for its turn (up to `max`, one in
    /// eight up to ten times that), so the processes' requests interleave in more orders
    /// than their natural pace gives.
    pub fn set_jitter(&self, max: Duration) {
        let micros = u64::try_from(max.as_micros()).unwrap_or(u64::MAX);
        self.inner.jitter_micros.store(micros, Ordering::SeqCst);
    }

    /// Requests forwarded so far.
    pub fn forwarded(&self) -> usize {
        self.inner.forwarded.load(Ordering::SeqCst)
    }

    /// Requests forwarded so far, per DynamoDB operation.
    pub fn operations(&self) -> std::collections::BTreeMap<String, usize> {
        self.inner
            .operations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Arms a hold: after one of `clients` sends a request of `operation` (e.g. `GetItem`)
    /// whose JSON body contains `needle`, that client's next request waits until the hold is
    /// released. It trips once, on the first match (several clients: whichever instance of a
    /// function gets the request).
    pub fn hold_after(&self, clients: &[usize], operation: &str, needle: &str) -> Hold {
        let state = Arc::new(HoldState {
            clients: clients.to_vec(),
            operation: operation.to_owned(),
            needle: needle.to_owned(),
            tripped: watch::Sender::new(None),
            released: watch::Sender::new(false),
        });
        if let Ok(mut holds) = self.inner.holds.lock() {
            holds.push(Arc::clone(&state));
        }
        Hold { state }
    }
}

impl Hold {
    /// Waits until the hold has tripped (the client is, or will next be, paused); `false`
    /// when it did not within `timeout`.
    pub async fn tripped(&self, timeout: Duration) -> bool {
        let mut seen = self.state.tripped.subscribe();
        tokio::time::timeout(timeout, seen.wait_for(Option::is_some))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Lets the client's requests through again.
    pub fn release(&self) {
        self.state.released.send_replace(true);
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.release();
    }
}

impl Inner {
    async fn handle(&self, client: usize, req: Request<Bytes>) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let operation = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or_default()
            .to_owned();
        let jitter = self.jitter_micros.load(Ordering::SeqCst);
        if jitter > 0 {
            // Mostly short pauses, and a long one now and then: a process stalled between
            // two requests while the others go on is where races live.
            let roll = self.random();
            let bound = if roll.is_multiple_of(8) {
                jitter * 10
            } else {
                jitter
            };
            tokio::time::sleep(Duration::from_micros((roll >> 3) % bound)).await;
        }
        self.wait_if_held(client).await;
        let answer = {
            let _turn = self.turn.lock().await;
            self.forwarded.fetch_add(1, Ordering::SeqCst);
            *self
                .operations
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(operation.clone())
                .or_default() += 1;
            self.forward(&parts, body.clone()).await
        };
        self.trip(client, &operation, &body);
        answer.unwrap_or_else(|error| {
            let mut response = Response::new(Full::new(Bytes::from(error)));
            *response.status_mut() = StatusCode::BAD_GATEWAY;
            response
        })
    }

    fn random(&self) -> u64 {
        let mut z = self
            .seed
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::SeqCst)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Waits while a tripped, unreleased hold pauses `client`.
    async fn wait_if_held(&self, client: usize) {
        let pausing: Vec<_> = self
            .holds
            .lock()
            .map(|holds| {
                holds
                    .iter()
                    .filter(|h| *h.tripped.borrow() == Some(client))
                    .map(|h| h.released.subscribe())
                    .collect()
            })
            .unwrap_or_default();
        for mut released in pausing {
            let _ = released.wait_for(|r| *r).await;
        }
    }

    /// Trips the first armed hold this request matches.
    fn trip(&self, client: usize, operation: &str, body: &[u8]) {
        let Ok(holds) = self.holds.lock() else { return };
        let body = String::from_utf8_lossy(body);
        if let Some(hold) = holds.iter().find(|h| {
            h.clients.contains(&client)
                && h.tripped.borrow().is_none()
                && h.operation == operation
                && body.contains(&h.needle)
        }) {
            hold.tripped.send_replace(Some(client));
        }
    }

    async fn forward(
        &self,
        parts: &http::request::Parts,
        body: Bytes,
    ) -> Result<Response<Full<Bytes>>, String> {
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let mut request = self
            .http
            .request(parts.method.clone(), format!("{}{path}", self.upstream))
            .body(body);
        for (name, value) in &parts.headers {
            if !matches!(name.as_str(), "host" | "content-length" | "connection") {
                request = request.header(name, value);
            }
        }
        let upstream = request.send().await.map_err(|e| e.to_string())?;
        let mut response = Response::builder().status(upstream.status());
        for (name, value) in upstream.headers() {
            if !matches!(
                name.as_str(),
                "content-length" | "transfer-encoding" | "connection"
            ) {
                response = response.header(name, value);
            }
        }
        let bytes = upstream.bytes().await.map_err(|e| e.to_string())?;
        response.body(Full::new(bytes)).map_err(|e| e.to_string())
    }
}
