//! Token verification, one table row per rule, against a JWKS served over loopback HTTP
//! and a clock set by the test, so skew boundaries are exact to the second.

use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use shared::clock::{Clock, ManualClock};
use shared::http;
use shared::keys::{CachePolicy, JwksCache};
use shared::token::{Keys, MAX_TOKEN_BYTES, Rules};
use shared::{Config, Rejection, Verifier};
use testkit::{FakeClerk, Reply, TestKey, session_claims};

const ISSUER: &str = "https://clerk.example.com";
const NOW: i64 = 1_765_000_000;
const SKEW: i64 = 5;

fn key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey::generate("ins_test_1"))
}

/// Same `kid` as [`key`], different key material: a forger's key.
fn impostor() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey::generate("ins_test_1"))
}

fn rules() -> Rules {
    Rules {
        authorized_parties: Vec::new(),
        audience: None,
        clock_skew_seconds: SKEW,
        ..Rules::new(ISSUER)
    }
}

async fn verifier_with(rules: Rules) -> (Verifier, FakeClerk) {
    let clerk = FakeClerk::start().await;
    clerk.serve_keys("/jwks", &[key()]);
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::at(NOW as u64));
    let cache = JwksCache::new(
        http::client().unwrap(),
        format!("{}/jwks", clerk.url()),
        None,
        CachePolicy::default(),
        Arc::clone(&clock),
    );
    (
        Verifier::new(Keys::Jwks(Box::new(cache)), rules, clock),
        clerk,
    )
}

fn claims() -> Value {
    session_claims(ISSUER, "user_1", NOW)
}

fn header() -> Value {
    key().session_header()
}

fn with(mut value: Value, field: &str, v: Value) -> Value {
    value[field] = v;
    value
}

fn without(mut value: Value, field: &str) -> Value {
    value.as_object_mut().unwrap().remove(field);
    value
}

fn signed(header: Value, claims: Value) -> String {
    key().sign(&header, &claims)
}

/// A token with a valid RS256 signature over an arbitrary payload string.
fn signed_raw_payload(payload: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header().to_string()),
        URL_SAFE_NO_PAD.encode(payload)
    );
    format!(
        "{input}.{}",
        URL_SAFE_NO_PAD.encode(key().sign_bytes(input.as_bytes()))
    )
}

/// The valid claims' JSON with `entries` added at the end.
fn repeated(entries: &str) -> String {
    let json = claims().to_string();
    format!("{},{entries}}}", json.strip_suffix('}').unwrap())
}

#[tokio::test]
async fn a_clerk_session_token_verifies_into_typed_claims() {
    let (verifier, _) = verifier_with(rules()).await;
    let token = key().session_token(ISSUER, "user_1", NOW);
    let claims = verifier.verify(&token).await.unwrap();
    assert_eq!(claims.sub, "user_1");
    assert_eq!(claims.sid.as_deref(), Some("sess_test"));
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(claims.exp, NOW + 60);
    assert_eq!(claims.iat, Some(NOW));
    assert_eq!(claims.nbf, Some(NOW - 10));
    assert_eq!(claims.azp.as_deref(), Some("http://localhost:5173"));
    assert_eq!(claims.sts.as_deref(), Some("active"));
    assert_eq!(claims.v, Some(2));
    assert_eq!(claims.fva, Some(vec![0, -1]));
    assert_eq!(claims.org, None);
}

#[tokio::test]
async fn every_rule_has_its_reason_code() {
    let forged_hs256 = {
        // The classic confusion: HMAC "signed" with the public key as the secret.
        let h = json!({ "alg": "HS256", "kid": key().kid, "typ": "JWT" });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(h.to_string()),
            URL_SAFE_NO_PAD.encode(claims().to_string())
        );
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(b"mac"))
    };
    let tampered = {
        let token = signed(header(), claims());
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(with(claims(), "sub", json!("user_admin")).to_string());
        parts.join(".")
    };
    let cases: Vec<(&str, String, Result<&str, Rejection>)> = vec![
        ("valid", signed(header(), claims()), Ok("user_1")),
        (
            "too large",
            "a".repeat(MAX_TOKEN_BYTES + 1),
            Err(Rejection::TokenTooLarge),
        ),
        ("one part", "abc".into(), Err(Rejection::TokenMalformed)),
        (
            "payload not json",
            signed_raw_payload(b"not json"),
            Err(Rejection::TokenMalformed),
        ),
        (
            "payload an array",
            signed_raw_payload(b"[1]"),
            Err(Rejection::TokenMalformed),
        ),
        // The claims in a struct's field order: never read by position.
        (
            "payload an array of the claims' values",
            signed_raw_payload(
                json!(["user_1", ISSUER, NOW + 60, NOW - 5])
                    .to_string()
                    .as_bytes(),
            ),
            Err(Rejection::TokenMalformed),
        ),
        // Parsers disagree on which of two values counts: neither does.
        (
            "a claim the verifier reads, named twice",
            signed_raw_payload(repeated(r#""sub":"user_2""#).as_bytes()),
            Err(Rejection::TokenMalformed),
        ),
        (
            "another kind of token without exp: refused as another kind",
            signed(
                with(header(), "typ", json!("at+jwt")),
                without(claims(), "exp"),
            ),
            Err(Rejection::TokenTypeInvalid),
        ),
        (
            "a claim it does not read, named twice",
            signed_raw_payload(repeated(r#""custom":1,"custom":2"#).as_bytes()),
            Ok("user_1"),
        ),
        (
            "alg none",
            signed(with(header(), "alg", json!("none")), claims()),
            Err(Rejection::AlgNotAllowed),
        ),
        (
            "alg RS512",
            signed(with(header(), "alg", json!("RS512")), claims()),
            Err(Rejection::AlgNotAllowed),
        ),
        (
            "alg missing",
            signed(without(header(), "alg"), claims()),
            Err(Rejection::AlgNotAllowed),
        ),
        ("alg HS256", forged_hs256, Err(Rejection::AlgNotAllowed)),
        (
            "crit",
            signed(with(header(), "crit", json!(["exp"])), claims()),
            Err(Rejection::CritUnsupported),
        ),
        (
            "kid missing",
            signed(without(header(), "kid"), claims()),
            Err(Rejection::KidMissing),
        ),
        (
            "kid unknown",
            signed(with(header(), "kid", json!("ins_other")), claims()),
            Err(Rejection::KidUnknown),
        ),
        (
            "impostor key",
            impostor().sign(&header(), &claims()),
            Err(Rejection::SignatureInvalid),
        ),
        (
            "payload tampered",
            tampered,
            Err(Rejection::SignatureInvalid),
        ),
        (
            "jwt template",
            signed(with(header(), "cat", json!("cl_B7d4PD222AAA")), claims()),
            Err(Rejection::TokenTypeInvalid),
        ),
        (
            "m2m token",
            signed(with(header(), "cat", json!("cl_B7d4PD333AAA")), claims()),
            Err(Rejection::TokenTypeInvalid),
        ),
        (
            "oauth typ",
            signed(with(header(), "typ", json!("at+jwt")), claims()),
            Err(Rejection::TokenTypeInvalid),
        ),
        (
            "cat ignore",
            signed(with(header(), "cat", json!("cl_I7d4PD111III")), claims()),
            Ok("user_1"),
        ),
        (
            "no cat, no typ",
            signed(without(without(header(), "cat"), "typ"), claims()),
            Ok("user_1"),
        ),
        (
            "unknown header field",
            signed(with(header(), "x-extra", json!(1)), claims()),
            Ok("user_1"),
        ),
        (
            "exp missing",
            signed(header(), without(claims(), "exp")),
            Err(Rejection::ExpMissing),
        ),
        (
            "exp not a number",
            signed(header(), with(claims(), "exp", json!("soon"))),
            Err(Rejection::TokenMalformed),
        ),
        (
            "exp = now - skew",
            signed(header(), with(claims(), "exp", json!(NOW - SKEW))),
            Err(Rejection::TokenExpired),
        ),
        (
            "exp = now - skew + 1",
            signed(header(), with(claims(), "exp", json!(NOW - SKEW + 1))),
            Ok("user_1"),
        ),
        (
            "nbf = now + skew",
            signed(header(), with(claims(), "nbf", json!(NOW + SKEW))),
            Ok("user_1"),
        ),
        (
            "nbf = now + skew + 1",
            signed(header(), with(claims(), "nbf", json!(NOW + SKEW + 1))),
            Err(Rejection::TokenNotYetValid),
        ),
        (
            "iat = now + skew",
            signed(header(), with(claims(), "iat", json!(NOW + SKEW))),
            Ok("user_1"),
        ),
        (
            "iat = now + skew + 1",
            signed(header(), with(claims(), "iat", json!(NOW + SKEW + 1))),
            Err(Rejection::IatInFuture),
        ),
        (
            "no nbf, no iat",
            signed(header(), without(without(claims(), "nbf"), "iat")),
            Ok("user_1"),
        ),
        (
            "other issuer",
            signed(
                header(),
                with(claims(), "iss", json!("https://evil.example.com")),
            ),
            Err(Rejection::IssuerInvalid),
        ),
        (
            "issuer with slash",
            signed(
                header(),
                with(claims(), "iss", json!("https://clerk.example.com/")),
            ),
            Err(Rejection::IssuerInvalid),
        ),
        (
            "issuer missing",
            signed(header(), without(claims(), "iss")),
            Err(Rejection::IssuerInvalid),
        ),
        (
            // jsonwebtoken alone accepts an array holding the issuer.
            "issuer in an array",
            signed(
                header(),
                with(
                    claims(),
                    "iss",
                    json!(["https://clerk.example.com", "https://evil.example.com"]),
                ),
            ),
            Err(Rejection::IssuerInvalid),
        ),
        (
            "sub empty",
            signed(header(), with(claims(), "sub", json!(""))),
            Err(Rejection::SubjectInvalid),
        ),
        (
            "sub missing",
            signed(header(), without(claims(), "sub")),
            Err(Rejection::SubjectInvalid),
        ),
        (
            "sub a number",
            signed(header(), with(claims(), "sub", json!(1))),
            Err(Rejection::SubjectInvalid),
        ),
        (
            "pending session",
            signed(header(), with(claims(), "sts", json!("pending"))),
            Err(Rejection::SessionPending),
        ),
        (
            "azp unchecked by default",
            signed(header(), with(claims(), "azp", json!("https://anything"))),
            Ok("user_1"),
        ),
        (
            "aud ignored by default",
            signed(header(), with(claims(), "aud", json!("other"))),
            Ok("user_1"),
        ),
    ];
    let (verifier, clerk) = verifier_with(rules()).await;
    for (name, token, want) in cases {
        let got = verifier.verify(&token).await.map(|c| c.sub);
        assert_eq!(got.as_deref().map_err(|e| *e), want, "case: {name}");
    }
    assert_eq!(clerk.hits("/jwks"), 1, "one fetch served every case");
}

#[tokio::test]
async fn authorized_parties_when_configured() {
    let (verifier, _) = verifier_with(Rules {
        authorized_parties: vec![
            "https://app.example.com".into(),
            "http://localhost:5173".into(),
        ],
        ..rules()
    })
    .await;
    let cases = [
        (Some(json!("https://app.example.com")), Ok(())),
        (Some(json!("http://localhost:5173")), Ok(())),
        (
            Some(json!("https://evil.example.com")),
            Err(Rejection::AzpInvalid),
        ),
        (
            Some(json!("https://app.example.com/")),
            Err(Rejection::AzpInvalid),
        ),
        (Some(json!("")), Err(Rejection::AzpInvalid)),
        (None, Err(Rejection::AzpInvalid)),
    ];
    for (azp, want) in cases {
        let c = match &azp {
            Some(v) => with(claims(), "azp", v.clone()),
            None => without(claims(), "azp"),
        };
        let got = verifier.verify(&signed(header(), c)).await.map(|_| ());
        assert_eq!(got, want, "azp {azp:?}");
    }
}

#[tokio::test]
async fn audience_when_configured() {
    let (verifier, _) = verifier_with(Rules {
        audience: Some("my-api".into()),
        ..rules()
    })
    .await;
    let cases = [
        (Some(json!("my-api")), Ok(())),
        (Some(json!(["other", "my-api"])), Ok(())),
        (Some(json!(["other"])), Err(Rejection::AudienceInvalid)),
        (Some(json!("other")), Err(Rejection::AudienceInvalid)),
        (Some(json!([])), Err(Rejection::AudienceInvalid)),
        (None, Err(Rejection::AudienceInvalid)),
    ];
    for (aud, want) in cases {
        let c = match &aud {
            Some(v) => with(claims(), "aud", v.clone()),
            None => claims(),
        };
        let got = verifier.verify(&signed(header(), c)).await.map(|_| ());
        assert_eq!(got, want, "aud {aud:?}");
    }
}

#[tokio::test]
async fn pending_sessions_only_when_allowed() {
    let (verifier, _) = verifier_with(Rules {
        allow_pending_sessions: true,
        ..rules()
    })
    .await;
    let token = signed(header(), with(claims(), "sts", json!("pending")));
    assert_eq!(
        verifier.verify(&token).await.unwrap().sts.as_deref(),
        Some("pending")
    );
}

#[tokio::test]
async fn oversized_tokens_are_refused_before_any_key_fetch() {
    let (verifier, clerk) = verifier_with(rules()).await;
    let huge = format!(
        "{}.{}",
        signed(header(), claims()),
        "A".repeat(MAX_TOKEN_BYTES)
    );
    assert_eq!(
        verifier.verify(&huge).await.unwrap_err(),
        Rejection::TokenTooLarge
    );
    assert_eq!(clerk.hits("/jwks"), 0);
}

#[tokio::test]
async fn no_keys_at_all_is_jwks_unavailable() {
    let (verifier, clerk) = verifier_with(rules()).await;
    clerk.set("/jwks", Reply::json(503, &json!({})));
    let token = signed(header(), claims());
    assert_eq!(
        verifier.verify(&token).await.unwrap_err(),
        Rejection::JwksUnavailable
    );
    assert!(Rejection::JwksUnavailable.is_infrastructure());
}

#[tokio::test]
async fn tokens_from_an_independent_implementation_verify() {
    // jsonwebtoken signs; we verify: the two agree on what an RS256 JWT is.
    // Signing first would fix jsonwebtoken's own provider as the process default.
    shared::keys::install_crypto_provider();
    let (verifier, _) = verifier_with(rules()).await;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(key().kid.clone());
    let encoding = jsonwebtoken::EncodingKey::from_rsa_pem(key().private_pem().as_bytes()).unwrap();
    let token = jsonwebtoken::encode(&header, &claims(), &encoding).unwrap();
    assert_eq!(verifier.verify(&token).await.unwrap().sub, "user_1");
}

fn config(vars: &[(&str, String)]) -> Config {
    testkit::config(vars)
}

#[tokio::test]
async fn pem_key_verifies_without_any_network_or_kid() {
    let clerk = FakeClerk::start().await;
    let config = config(&[
        (
            "CLERK_PUBLISHABLE_KEY",
            "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k".into(),
        ),
        ("CLERK_JWKS_URL", format!("{}/jwks", clerk.url())),
    ]);
    let pem_one_line = key().public_pem().replace('\n', "\\n");
    let secrets = shared::ClerkSecrets::from_lookup(|name| {
        (name == "CLERK_JWT_KEY").then(|| pem_one_line.clone())
    });
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::at(NOW as u64));
    let verifier =
        shared::services::verifier(&config, &secrets, http::client().unwrap(), clock).unwrap();
    verifier.prefetch().await;
    let token = signed(without(header(), "kid"), claims());
    assert_eq!(verifier.verify(&token).await.unwrap().sub, "user_1");
    assert_eq!(
        verifier
            .verify(&impostor().sign(&header(), &claims()))
            .await
            .unwrap_err(),
        Rejection::SignatureInvalid
    );
    assert!(clerk.seen().is_empty(), "PEM mode never fetches");
}

#[tokio::test]
async fn backend_api_jwks_is_fetched_with_the_secret_key() {
    let clerk = FakeClerk::start().await;
    clerk.serve_keys("/v1/jwks", &[key()]);
    let config = config(&[
        (
            "CLERK_PUBLISHABLE_KEY",
            "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k".into(),
        ),
        ("CLERK_API_URL", clerk.url()),
    ]);
    let secrets = shared::ClerkSecrets::from_lookup(|name| {
        (name == "CLERK_SECRET_KEY").then(|| "sk_test_abc".to_owned())
    });
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::at(NOW as u64));
    let verifier =
        shared::services::verifier(&config, &secrets, http::client().unwrap(), clock).unwrap();
    assert_eq!(
        verifier
            .verify(&signed(header(), claims()))
            .await
            .unwrap()
            .sub,
        "user_1"
    );
    let seen = clerk.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].path, "/v1/jwks");
    assert_eq!(seen[0].authorization.as_deref(), Some("Bearer sk_test_abc"));
}

#[tokio::test]
async fn invalid_pem_is_a_setup_error() {
    let config = config(&[(
        "CLERK_PUBLISHABLE_KEY",
        "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k".into(),
    )]);
    let secrets = shared::ClerkSecrets::from_lookup(|name| {
        (name == "CLERK_JWT_KEY").then(|| "not a pem".to_owned())
    });
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::at(NOW as u64));
    let err = shared::services::verifier(&config, &secrets, http::client().unwrap(), clock)
        .err()
        .unwrap();
    assert_eq!(
        err,
        shared::services::SetupError::Malformed(shared::key_shape::MalformedKey {
            var: "CLERK_JWT_KEY",
            reason: "no BEGIN PUBLIC KEY line"
        })
    );
}
