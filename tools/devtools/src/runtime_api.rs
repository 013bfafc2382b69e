//! A Lambda runtime API on loopback: enough of `2018-06-01/runtime` for a real function
//! binary to poll for events and post answers, with the timings a cold-start bench needs.
//!
//! Endpoints: `GET invocation/next` (blocks until an event is queued), `POST
//! invocation/{id}/response`, `POST invocation/{id}/error`, `POST init/error`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Bytes;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::Notify;

const PREFIX: &str = "/2018-06-01/runtime";

/// What went wrong driving a function.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The function did not answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The function reported an init error.
    #[error("init error: {0}")]
    Init(String),
    /// The process ended before it asked for its first event (a start-up error).
    #[error("{name} exited during start-up (exit code {code}):\n{output}")]
    Exited {
        /// The binary.
        name: String,
        /// Its exit code (-1 when a signal ended it).
        code: i32,
        /// The end of what it printed.
        output: String,
    },
    /// Spawning or talking to the process failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The answer to one invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// `response` (true) or `error` (false).
    pub ok: bool,
    /// The JSON posted back.
    pub body: Value,
    /// From handing out the event to receiving the answer.
    pub latency: Duration,
}

#[derive(Default)]
struct State {
    queue: VecDeque<(String, Value)>,
    first_poll: Option<Instant>,
    dispatched: HashMap<String, Instant>,
    outcomes: HashMap<String, Invocation>,
    init_error: Option<String>,
    next_id: u64,
}

#[derive(Default)]
struct Inner {
    state: Mutex<State>,
    queued: Notify,
    /// The function's timeout as its deadline header tells it (0: the default, 30 s).
    timeout_ms: std::sync::atomic::AtomicU64,
}

/// The deadline given with each event unless [`RuntimeApi::set_timeout`] says otherwise.
const DEFAULT_TIMEOUT_MS: u64 = 30_000;

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The emulator, serving on `127.0.0.1:<random port>`.
#[derive(Clone)]
pub struct RuntimeApi {
    addr: SocketAddr,
    inner: Arc<Inner>,
}

impl RuntimeApi {
    /// Starts serving on the current tokio runtime.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner::default());
        let shared = Arc::clone(&inner);
        testkit::serve::serve(listener, move |req| route(Arc::clone(&shared), req));
        Ok(Self { addr, inner })
    }

    /// Events dispatched from now on carry a deadline `timeout` away (Lambda's function
    /// timeout; the default is 30 s).
    pub fn set_timeout(&self, timeout: Duration) {
        let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        self.inner
            .timeout_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// When the function first asked for an event (its init ended).
    pub fn first_poll(&self) -> Option<Instant> {
        self.inner.lock().first_poll
    }

    /// Queues `event` and waits for the function's answer.
    pub async fn invoke(
        &self,
        event: Value,
        timeout: Duration,
    ) -> Result<Invocation, HarnessError> {
        let id = {
            let mut state = self.inner.lock();
            state.next_id += 1;
            // Unique across emulators, as Lambda's request ids are: the port tells them apart.
            let id = format!(
                "00000000-{:04x}-4000-8000-{:012}",
                self.addr.port(),
                state.next_id
            );
            state.queue.push_back((id.clone(), event));
            id
        };
        self.inner.queued.notify_one();
        let deadline = Instant::now() + timeout;
        loop {
            {
                let mut state = self.inner.lock();
                if let Some(outcome) = state.outcomes.remove(&id) {
                    return Ok(outcome);
                }
                if let Some(error) = state.init_error.take() {
                    return Err(HarnessError::Init(error));
                }
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::Timeout(timeout));
            }
            // Latency is stamped when the answer arrives, so this polling adds nothing to it.
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    }

    /// The init error the function reported, if any (taken: reported once).
    pub fn take_init_error(&self) -> Option<String> {
        self.inner.lock().init_error.take()
    }

    /// Waits until the function polls for its first event.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<Instant, HarnessError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(at) = self.first_poll() {
                return Ok(at);
            }
            if let Some(error) = self.inner.lock().init_error.take() {
                return Err(HarnessError::Init(error));
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::Timeout(timeout));
            }
            tokio::time::sleep(Duration::from_micros(100)).await;
        }
    }
}

async fn route(inner: Arc<Inner>, req: Request<Bytes>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return reply(StatusCode::NOT_FOUND, Bytes::new());
    };
    if method == Method::GET && rest == "/invocation/next" {
        return next(&inner).await;
    }
    let body = req.into_body();
    let arrived = Instant::now();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if rest == "/init/error" {
        inner.lock().init_error = Some(json.to_string());
        return reply(StatusCode::ACCEPTED, Bytes::new());
    }
    let Some((id, kind)) = rest
        .strip_prefix("/invocation/")
        .and_then(|r| r.split_once('/'))
    else {
        return reply(StatusCode::NOT_FOUND, Bytes::new());
    };
    let mut state = inner.lock();
    let Some(dispatched) = state.dispatched.remove(id) else {
        return reply(StatusCode::BAD_REQUEST, Bytes::new());
    };
    let outcome = Invocation {
        ok: kind == "response",
        body: json,
        latency: arrived - dispatched,
    };
    state.outcomes.insert(id.to_owned(), outcome);
    reply(StatusCode::ACCEPTED, Bytes::new())
}

async fn next(inner: &Inner) -> Response<Full<Bytes>> {
    inner.lock().first_poll.get_or_insert_with(Instant::now);
    loop {
        let item = inner.lock().queue.pop_front();
        if let Some((id, event)) = item {
            inner.lock().dispatched.insert(id.clone(), Instant::now());
            let timeout = match inner.timeout_ms.load(std::sync::atomic::Ordering::Relaxed) {
                0 => DEFAULT_TIMEOUT_MS,
                ms => ms,
            };
            let deadline = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis()
                + u128::from(timeout);
            let mut response = reply(StatusCode::OK, Bytes::from(event.to_string()));
            let headers = response.headers_mut();
            let mut set = |name: &'static str, value: String| {
                if let Ok(value) = value.parse() {
                    headers.insert(name, value);
                }
            };
            set("lambda-runtime-aws-request-id", id);
            set("lambda-runtime-deadline-ms", deadline.to_string());
            set(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:local".to_owned(),
            );
            set(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000".to_owned(),
            );
            set("content-type", "application/json".to_owned());
            return response;
        }
        inner.queued.notified().await;
    }
}

fn reply(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
}

/// A function binary running against a [`RuntimeApi`].
pub struct Function {
    child: tokio::process::Child,
    /// When the process was spawned.
    pub started: Instant,
}

impl Function {
    /// Spawns `binary` with the runtime API's address and the Lambda environment it expects,
    /// plus `env`. Its stdout/stderr go to `log` (or are discarded).
    pub fn spawn(
        binary: &Path,
        api: &RuntimeApi,
        env: &[(String, String)],
        log: Option<&Path>,
    ) -> Result<Self, HarnessError> {
        Self::start(tokio::process::Command::new(binary), api, env, log)
    }

    /// [`Function::spawn`] with nothing inherited from this process's environment: only
    /// what the Lambda runtime sets and `env`, as in a `sam local` container.
    pub fn spawn_isolated(
        binary: &Path,
        api: &RuntimeApi,
        env: &[(String, String)],
        log: Option<&Path>,
    ) -> Result<Self, HarnessError> {
        let mut command = tokio::process::Command::new(binary);
        command.env_clear();
        Self::start(command, api, env, log)
    }

    fn start(
        mut command: tokio::process::Command,
        api: &RuntimeApi,
        env: &[(String, String)],
        log: Option<&Path>,
    ) -> Result<Self, HarnessError> {
        command
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", "local")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/local")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        match log {
            Some(path) => {
                let file = std::fs::File::create(path)?;
                command.stdout(file.try_clone()?).stderr(file);
            }
            None => {
                command.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let started = Instant::now();
        let child = command.spawn()?;
        Ok(Self { child, started })
    }

    /// Peak resident memory so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let pid = self.child.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Its exit code if it has ended, without waiting.
    pub fn exit_code(&mut self) -> Option<i32> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.code().unwrap_or(-1)),
            _ => None,
        }
    }

    /// Waits for the process to exit by itself; its exit code, or `None` on timeout.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(Ok(status)) => Some(status.code().unwrap_or(-1)),
            _ => None,
        }
    }

    /// Stops the process.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
