//! What the benchmarks share: one RSA-2048 key, one Clerk-shaped session token carrying an
//! active organization, verifiers over them (warm), and a 20-route policy document.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{SystemTime, UNIX_EPOCH};

use shared::clock::{Clock, SystemClock};
use shared::http;
use shared::keys::{CachePolicy, JwksCache, KeySource};
use shared::machine::TokenType;
use shared::machine::backend::MachineToken;
use shared::machine::cache::{Limits, MachineTokenCache};
use shared::policy::PolicyDocument;
use shared::token::{Keys, Rules};
use shared::{Secret, Verifier};

use crate::{FakeClerk, TestKey, session_claims};

/// The benchmarks' issuer.
pub const ISSUER: &str = "https://clerk.example.com";

/// Polls a future that must not wait (a warm cache never does) without an executor's cost.
pub fn ready<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the warm path awaited something"),
    }
}

/// The rules of the benchmarked verifiers: an authorized party, 5 s of skew.
pub fn rules() -> Rules {
    Rules {
        authorized_parties: vec!["http://localhost:5173".into()],
        audience: None,
        clock_skew_seconds: 5,
        ..Rules::new(ISSUER)
    }
}

/// The key, the token and two warm verifiers of it.
pub struct Fixture {
    pub key: TestKey,
    /// A v2 session token valid for an hour, with an active organization: a role and read
    /// permission on one feature (v2's compact form, decoded on every verify).
    pub token: String,
    /// Keys from a JWKS served on loopback, already fetched.
    pub jwks: Verifier,
    /// The key from its PEM (`CLERK_JWT_KEY`).
    pub pem: Verifier,
    /// An M2M JWT (`mockM2MJwtPayload`'s shape) signed with the same key, valid for an hour.
    pub m2m_token: String,
}

impl Fixture {
    /// Generates the key, signs the token and warms the JWKS verifier up.
    pub fn new() -> Self {
        let key = TestKey::generate("ins_bench");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let mut claims = session_claims(ISSUER, "user_2bench", now);
        claims["exp"] = serde_json::json!(now + 3600); // outlives the run
        claims["fea"] = serde_json::json!("o:resource10,u:beta");
        claims["o"] = serde_json::json!({ "id": "org_bench", "slg": "bench", "rol": "member", "per": "read,manage", "fpm": "1" });
        let token = key.sign(&key.session_header(), &claims);
        let m2m_header = serde_json::json!({ "alg": "RS256", "typ": "JWT", "kid": "ins_bench", "cat": "cl_B7d4PD333AAA" });
        let m2m_claims = serde_json::json!({
            "iss": ISSUER, "sub": "mch_2vYVtestTESTtestTESTtestTESTtest",
            "aud": ["mch_1xxxxx", "mch_2xxxxx"], "exp": now + 3600, "iat": now, "nbf": now - 10,
            "jti": "mt_2xKa9Bgv7NxMRDFyQw8LpZ3cTmU1vHjE", "scopes": "mch_1xxxxx mch_2xxxxx"
        });
        let m2m_token = key.sign(&m2m_header, &m2m_claims);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let jwks = runtime.block_on(async {
            let clerk = FakeClerk::start().await;
            clerk.serve_keys("/jwks", &[&key]);
            let cache = JwksCache::new(
                http::client().unwrap(),
                format!("{}/jwks", clerk.url()),
                None,
                CachePolicy::default(),
                Arc::clone(&clock),
            );
            let verifier = Verifier::new(Keys::Jwks(Box::new(cache)), rules(), Arc::clone(&clock));
            verifier.verify(&token).await.expect("warm-up verify");
            verifier
        });
        let pem_keys = Keys::from_source(
            KeySource::Pem(Secret::new(key.public_pem())),
            http::client().unwrap(),
            CachePolicy::default(),
            Arc::clone(&clock),
        )
        .unwrap();
        let pem = Verifier::new(pem_keys, rules(), clock);
        Self {
            key,
            token,
            jwks,
            pem,
            m2m_token,
        }
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

/// A warm machine token cache holding one API key's answer, and the same answer in a plain
/// map, for comparing a cache hit with the cheapest lookup there is.
pub fn warm_machine_cache() -> (
    MachineTokenCache,
    std::collections::HashMap<String, MachineToken>,
    &'static str,
) {
    let secret = "ak_2vYVtestTESTtestTESTtestTESTtest0123456789";
    let answer = MachineToken {
        token_type: TokenType::ApiKey,
        id: "ak_ey966f1b1xf93586b2debdcadb0b3bd1".into(),
        subject: "user_2vYVtestTESTtestTESTtestTESTtest".into(),
        scopes: vec!["read:foo".into(), "write:bar".into()],
        client_id: None,
        expiration_ms: None,
    };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let cache = MachineTokenCache::new(Limits::default(), clock);
    let stored = answer.clone();
    ready(cache.get(TokenType::ApiKey, secret, || async { Ok(Ok(stored)) }))
        .unwrap()
        .unwrap();
    let map = std::collections::HashMap::from([(secret.to_owned(), answer)]);
    (cache, map, secret)
}

/// `ROUTE_POLICIES` with 20 routes `GET /resource{i}/{id}`, each asking
/// `org:resource{i}:read` and a moderate reverification. The fixture's token passes the
/// 11th (`GET /resource10/{id}`) and fails the 19 others on the permission.
pub fn twenty_routes() -> PolicyDocument {
    let routes: Vec<String> = (0..20)
        .map(|i| format!(r#""GET /resource{i}/{{id}}": {{"permission": "org:resource{i}:read", "reverification": "moderate"}}"#))
        .collect();
    PolicyDocument::parse(&format!("{{{}}}", routes.join(","))).unwrap()
}
