//! Test support: RSA keys that mint Clerk-shaped tokens, a fake Clerk (JWKS and Backend API)
//! served over real HTTP on loopback, fresh tables on the local stack.
//!
//! A crate of its own, a dev-dependency of the crates that test with it (and a dependency of
//! the development tools), so no shipped or benchmarked function is ever built with it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// SDK configuration for the local stack; panics with directions when it is not up.
/// The tests' fixed "now", in Unix seconds.
pub const NOW: i64 = 1_795_701_600;

/// A clock stopped at [`NOW`] (tests move it with `advance`).
pub fn clock() -> Arc<shared::clock::ManualClock> {
    Arc::new(shared::clock::ManualClock::at(NOW as u64))
}

/// The configuration these variables describe, nothing read from the environment; the first
/// pair with a name wins, so overrides go first.
pub fn config<K: AsRef<str>, V: AsRef<str>>(vars: &[(K, V)]) -> shared::Config {
    shared::Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| k.as_ref() == name)
            .map(|(_, v)| v.as_ref().to_owned())
    })
    .expect("a valid test configuration")
}

pub async fn local_stack_sdk_config() -> aws_config::SdkConfig {
    assert!(
        std::env::var("AWS_ENDPOINT_URL").is_ok_and(|v| v.starts_with("http://127.")),
        "these tests need the local stack: run them with `make test` \
         (or `infra/with-stack.sh cargo test`)"
    );
    shared::aws::sdk_config().await
}

/// A store over a fresh table of the local stack.
pub async fn fresh_store() -> shared::UserStore {
    let client = aws_sdk_dynamodb::Client::new(&local_stack_sdk_config().await);
    let table = fresh_table(&client).await;
    shared::UserStore::new(client, table)
}

/// A store over a table that does not exist: every call fails as when DynamoDB is down.
pub async fn missing_table_store() -> shared::UserStore {
    let client = aws_sdk_dynamodb::Client::new(&local_stack_sdk_config().await);
    shared::UserStore::new(client, "no-such-table")
}

/// A Clerk profile with just the fields most tests care about (stamp 1).
pub fn profile(
    clerk_user_id: &str,
    email: Option<&str>,
    username: &str,
) -> shared::store::ClerkProfile {
    shared::store::ClerkProfile {
        clerk_user_id: clerk_user_id.to_owned(),
        email: email.map(str::to_owned),
        username: username.to_owned(),
        first_name: None,
        last_name: None,
        full_name: None,
        image_url: None,
        is_admin: None,
        clerk_updated_at: 1,
    }
}

/// The users table definition, as committed in `infra/users-table.json`.
pub fn table_spec() -> Value {
    serde_json::from_str(include_str!("../../../infra/users-table.json"))
        .expect("users-table.json is JSON")
}

/// Creates a table no other test uses, from `infra/users-table.json`.
pub async fn fresh_table(client: &aws_sdk_dynamodb::Client) -> String {
    let name = format!("test-users-{}", uuid::Uuid::new_v4().simple());
    let spec = table_spec();
    let keys = |v: &Value| -> Vec<KeySchemaElement> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|k| {
                KeySchemaElement::builder()
                    .attribute_name(k["AttributeName"].as_str().unwrap())
                    .key_type(KeyType::from(k["KeyType"].as_str().unwrap()))
                    .build()
                    .unwrap()
            })
            .collect()
    };
    let attributes = spec["AttributeDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            AttributeDefinition::builder()
                .attribute_name(a["AttributeName"].as_str().unwrap())
                .attribute_type(ScalarAttributeType::from(
                    a["AttributeType"].as_str().unwrap(),
                ))
                .build()
                .unwrap()
        })
        .collect();
    let indexes = spec["GlobalSecondaryIndexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            GlobalSecondaryIndex::builder()
                .index_name(i["IndexName"].as_str().unwrap())
                .set_key_schema(Some(keys(&i["KeySchema"])))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::from(
                            i["Projection"]["ProjectionType"].as_str().unwrap(),
                        ))
                        .build(),
                )
                .build()
                .unwrap()
        })
        .collect();
    client
        .create_table()
        .table_name(&name)
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(keys(&spec["KeySchema"])))
        .set_global_secondary_indexes(Some(indexes))
        .billing_mode(BillingMode::from(spec["BillingMode"].as_str().unwrap()))
        .send()
        .await
        .expect("create test table");
    let ttl = &spec["TimeToLiveSpecification"];
    client
        .update_time_to_live()
        .table_name(&name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(ttl["AttributeName"].as_str().unwrap())
                .enabled(ttl["Enabled"].as_bool().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("enable TTL");
    name
}

/// An RSA-2048 signing key with a `kid`.
pub struct TestKey {
    pub kid: String,
    pair: KeyPair,
}

impl TestKey {
    /// A fresh key (takes tens of milliseconds: generate once per test binary where you can).
    pub fn generate(kid: &str) -> Self {
        Self {
            kid: kid.to_owned(),
            pair: KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation"),
        }
    }

    /// A key from a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pkcs8_pem(kid: &str, pem: &str) -> Self {
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = STANDARD.decode(body.trim()).expect("PEM body is base64");
        Self {
            kid: kid.to_owned(),
            pair: KeyPair::from_pkcs8(&der).expect("PKCS#8 RSA key"),
        }
    }

    /// The private key as PKCS#8 PEM.
    pub fn private_pem(&self) -> String {
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&self.pair).unwrap();
        pem("PRIVATE KEY", der.as_ref())
    }

    /// The public key as SPKI PEM (what `CLERK_JWT_KEY` holds).
    pub fn public_pem(&self) -> String {
        let der = self.pair.public_key().as_der().unwrap();
        pem("PUBLIC KEY", der.as_ref())
    }

    /// The public key as a JWK, shaped like Clerk's.
    pub fn jwk(&self) -> Value {
        let public = self.pair.public_key();
        json!({
            "use": "sig",
            "kty": "RSA",
            "kid": self.kid,
            "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        })
    }

    /// The RS256 signature of `message`.
    pub fn sign_bytes(&self, message: &[u8]) -> Vec<u8> {
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                message,
                &mut signature,
            )
            .unwrap();
        signature
    }

    /// A compact JWS of these exact header and claims (anything goes: tests forge freely).
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.sign_bytes(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// The header Clerk puts on session tokens, with this key's `kid`.
    pub fn session_header(&self) -> Value {
        json!({ "alg": "RS256", "cat": shared::token::CATEGORY_SESSION, "kid": self.kid, "typ": "JWT" })
    }

    /// A session token for `sub`, issued by `issuer` at `now` and valid for 60 s, as Clerk
    /// mints them (v2 claims).
    pub fn session_token(&self, issuer: &str, sub: &str, now: i64) -> String {
        self.sign(&self.session_header(), &session_claims(issuer, sub, now))
    }
}

/// The claims of a v2 Clerk session token issued at `now`.
pub fn session_claims(issuer: &str, sub: &str, now: i64) -> Value {
    json!({
        "azp": "http://localhost:5173",
        "exp": now + 60,
        "fva": [0, -1],
        "iat": now,
        "iss": issuer,
        "nbf": now - 10,
        "sid": "sess_test",
        "sts": "active",
        "sub": sub,
        "v": 2,
    })
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// One canned response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

/// A request the fake received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct Routes {
    replies: HashMap<String, Reply>,
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
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&shared)));
            }
        });
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

async fn serve(mut stream: tokio::net::TcpStream, routes: Arc<Mutex<Routes>>) {
    let mut buffer = Vec::new();
    let mut chunk = [0_u8; 4096];
    while !buffer.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
        if buffer.len() > 64 * 1024 {
            return;
        }
    }
    let head = String::from_utf8_lossy(&buffer).to_string();
    let mut lines = head.lines();
    let mut parts = lines.next().unwrap_or_default().split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let authorization = lines.take_while(|l| !l.is_empty()).find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("authorization")
            .then(|| value.trim().to_owned())
    });
    let reply = {
        let mut routes = routes.lock().unwrap();
        routes.seen.push(Seen {
            method,
            path: path.clone(),
            authorization,
        });
        routes.replies.get(&path).cloned()
    };
    let reply = reply.unwrap_or_else(|| {
        Reply::json(
            404,
            &json!({ "errors": [{ "code": "resource_not_found" }] }),
        )
    });
    tokio::time::sleep(reply.delay).await;
    let response = format!(
        "HTTP/1.1 {} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{}",
        reply.status,
        reply.body.len(),
        reply.body
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
