//! Machine JWTs through the verifier, keys served over HTTP on loopback: Clerk's own signed
//! OAuth access tokens (`fixtures/machine.ts`, verified against `fixtures/index.ts`'s
//! `mockJwks`, clerk/javascript e21ae9a), and M2M tokens shaped like `mockM2MJwtPayload`.

use std::sync::{Arc, OnceLock};

use serde_json::{Value, json};
use shared::clock::{Clock, ManualClock};
use shared::http;
use shared::keys::{CachePolicy, JwksCache};
use shared::token::{Keys, MachineClaims, MachineJwt, Rules};
use shared::{Rejection, Verifier};
use testkit::clerk_fixtures::{OAUTH_JWT, OAUTH_JWT_APPLICATION_TYP};
use testkit::{FakeClerk, Reply, TestKey};

/// `mockRsaJwk`'s modulus.
const CLERK_MODULUS: [&str; 4] = [
    "qYy3MY8fOneEyzNDu9lp6iGXKkNUF-u_dUnrlkadZYyB35efzKFJEr9fftmWv5PUj1uRHTQ3bh6X1cceOYsIjy008d",
    "HWZJsKhGOxgdTjeK91rjaklxt7tyFXEiKHIOr1LSgKzopClOfCIjxK_oPUOf38pVh7WnekcSBQmU5fqA-EzKMi6k9V",
    "wvbzqKlZM4XQsiFyn28d9VubJWjTU8nNot0n1NE-9k6TxM8nglM4RwkBH4Ni4B0LhKKOOV-AG8tBNiZVil415dpBld",
    "mJ_j0wk7Ad4VFi9en3Z17oCKr-K-zuT7vKMKSb1548dk0vnmi0vj2QGXSo-61wM5yQWpk6sQ",
];

/// `mockRsaJwkKid`.
const CLERK_KID: &str = "ins_2GIoQhbUpy0hX7B2cVkuTMinXoD";
/// The fixtures' `iat`: Clerk's tests freeze time there.
const CLERK_IAT: u64 = 1_666_648_250;

const ISSUER: &str = "https://clerk.example.com";
const NOW: i64 = 1_765_000_000;

fn key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey::generate("ins_machine"))
}

async fn verifier_of(jwks: Value, issuer: &str, now: u64) -> (Verifier, FakeClerk) {
    let clerk = FakeClerk::start().await;
    clerk.set("/jwks", Reply::json(200, &jwks));
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::at(now));
    let cache = JwksCache::new(
        http::client().unwrap(),
        format!("{}/jwks", clerk.url()),
        None,
        CachePolicy::default(),
        Arc::clone(&clock),
    );
    let verifier = Verifier::new(Keys::Jwks(Box::new(cache)), Rules::new(issuer), clock);
    (verifier, clerk)
}

async fn ours() -> (Verifier, FakeClerk) {
    verifier_of(json!({ "keys": [key().jwk()] }), ISSUER, NOW as u64).await
}

/// `mockM2MJwtPayload` with this instance's issuer and our clock.
fn m2m_payload() -> Value {
    json!({
        "iss": ISSUER, "sub": "mch_2vYVtestTESTtestTESTtestTESTtest",
        "aud": ["mch_1xxxxx", "mch_2xxxxx"], "exp": NOW + 300, "iat": NOW, "nbf": NOW - 10,
        "jti": "mt_2xKa9Bgv7NxMRDFyQw8LpZ3cTmU1vHjE", "scopes": "mch_1xxxxx mch_2xxxxx"
    })
}

/// The header Clerk's tests sign M2M JWTs with.
fn m2m_header() -> Value {
    json!({ "alg": "RS256", "typ": "JWT", "kid": "ins_machine", "cat": "cl_B7d4PD333AAA" })
}

fn with(mut value: Value, field: &str, v: Value) -> Value {
    if v.is_null() {
        value.as_object_mut().unwrap().remove(field);
    } else {
        value[field] = v;
    }
    value
}

#[tokio::test]
async fn clerks_own_oauth_access_tokens_verify() {
    let jwks = json!({ "keys": [{
        "use": "sig", "kty": "RSA", "kid": CLERK_KID, "alg": "RS256",
        "n": CLERK_MODULUS.concat(), "e": "AQAB"
    }] });
    let (verifier, _clerk) = verifier_of(jwks, "https://clerk.oauth.example.test", CLERK_IAT).await;
    for token in [OAUTH_JWT.concat(), OAUTH_JWT_APPLICATION_TYP.concat()] {
        let claims = verifier
            .verify_machine_jwt(&token, MachineJwt::OAuth)
            .await
            .unwrap();
        // `verify.test.ts`: the id is `jti`, the scopes `scope` split on spaces.
        assert_eq!(
            claims,
            MachineClaims {
                kind: MachineJwt::OAuth,
                subject: "user_2vYVtestTESTtestTESTtestTESTtest".into(),
                scopes: vec!["read:foo".into(), "write:bar".into()],
                client_id: Some("client_2VTWUzvGC5UhdJCNx6xG1D98edc".into()),
                id: Some("oat_2xKa9Bgv7NxMRDFyQw8LpZ3cTmU1vHjE".into()),
                exp: 1_666_648_550,
            }
        );
        // Never a session, and never an M2M token.
        assert_eq!(
            verifier.verify(&token).await,
            Err(Rejection::TokenTypeInvalid)
        );
        assert_eq!(
            verifier.verify_machine_jwt(&token, MachineJwt::M2m).await,
            Err(Rejection::TokenTypeInvalid)
        );
    }
    // Clerk's clock moved on: expired, as for sessions.
    let (later, _clerk2) = verifier_of(
        json!({ "keys": [{ "kty": "RSA", "kid": CLERK_KID, "n": CLERK_MODULUS.concat(), "e": "AQAB" }] }),
        "https://clerk.oauth.example.test",
        CLERK_IAT + 306,
    )
    .await;
    assert_eq!(
        later
            .verify_machine_jwt(&OAUTH_JWT.concat(), MachineJwt::OAuth)
            .await,
        Err(Rejection::TokenExpired)
    );
}

#[tokio::test]
async fn m2m_jwts_verify_with_their_scopes() {
    let (verifier, _clerk) = ours().await;
    let token = key().sign(&m2m_header(), &m2m_payload());
    let claims = verifier
        .verify_machine_jwt(&token, MachineJwt::M2m)
        .await
        .unwrap();
    assert_eq!(
        claims,
        MachineClaims {
            kind: MachineJwt::M2m,
            subject: "mch_2vYVtestTESTtestTESTtestTESTtest".into(),
            // `scopes` and `aud` are the minter's own claims: nothing is granted by them.
            scopes: vec![],
            client_id: None,
            id: Some("mt_2xKa9Bgv7NxMRDFyQw8LpZ3cTmU1vHjE".into()),
            exp: NOW + 300,
        }
    );
    // Not from `aud` either (Clerk's SDK falls back to it; it is the minter's too).
    let aud_only = with(m2m_payload(), "scopes", Value::Null);
    let claims = verifier
        .verify_machine_jwt(&key().sign(&m2m_header(), &aud_only), MachineJwt::M2m)
        .await
        .unwrap();
    assert!(claims.scopes.is_empty());
    // Without `cat` (Clerk's rollout window): still an M2M token.
    let bare = with(
        with(m2m_payload(), "scopes", Value::Null),
        "aud",
        Value::Null,
    );
    let header = with(m2m_header(), "cat", Value::Null);
    let claims = verifier
        .verify_machine_jwt(&key().sign(&header, &bare), MachineJwt::M2m)
        .await
        .unwrap();
    assert!(claims.scopes.is_empty());
    // And never a session.
    assert_eq!(
        verifier.verify(&token).await,
        Err(Rejection::TokenTypeInvalid)
    );
}

#[tokio::test]
async fn every_machine_rule_has_its_reason_code() {
    let (verifier, _clerk) = ours().await;
    let m2m = |header: Value, payload: Value| key().sign(&header, &payload);
    let oauth_header = json!({ "alg": "RS256", "typ": "at+jwt", "kid": "ins_machine" });
    let oauth_payload = json!({
        "iss": ISSUER, "sub": "user_1", "exp": NOW + 300, "iat": NOW, "client_id": "client_1",
        "scp": ["read:foo", "", "write:bar"], "scope": "ignored"
    });
    let cases = [
        (
            "m2m with a session's cat",
            MachineJwt::M2m,
            m2m(
                with(m2m_header(), "cat", json!("cl_B7d4PD111AAA")),
                m2m_payload(),
            ),
            Err(Rejection::TokenTypeInvalid),
        ),
        (
            "m2m typed at+jwt",
            MachineJwt::M2m,
            m2m(with(m2m_header(), "typ", json!("at+jwt")), m2m_payload()),
            Err(Rejection::TokenTypeInvalid),
        ),
        (
            "m2m typ in lower case",
            MachineJwt::M2m,
            m2m(with(m2m_header(), "typ", json!("jwt")), m2m_payload()),
            Err(Rejection::TokenTypeInvalid),
        ),
        (
            "m2m for a user",
            MachineJwt::M2m,
            m2m(m2m_header(), with(m2m_payload(), "sub", json!("user_1"))),
            Err(Rejection::SubjectInvalid),
        ),
        (
            "m2m expired",
            MachineJwt::M2m,
            m2m(m2m_header(), with(m2m_payload(), "exp", json!(NOW - 5))),
            Err(Rejection::TokenExpired),
        ),
        (
            "m2m from another issuer",
            MachineJwt::M2m,
            m2m(
                m2m_header(),
                with(
                    m2m_payload(),
                    "iss",
                    json!("https://clerk.m2m.example.test"),
                ),
            ),
            Err(Rejection::IssuerInvalid),
        ),
        (
            "m2m living a day",
            MachineJwt::M2m,
            m2m(
                m2m_header(),
                with(m2m_payload(), "exp", json!(NOW + 86_400)),
            ),
            Err(Rejection::TokenLifetimeTooLong),
        ),
        (
            "m2m without exp",
            MachineJwt::M2m,
            m2m(m2m_header(), with(m2m_payload(), "exp", Value::Null)),
            Err(Rejection::ExpMissing),
        ),
        (
            "oauth typed JWT",
            MachineJwt::OAuth,
            m2m(
                with(oauth_header.clone(), "typ", json!("JWT")),
                oauth_payload.clone(),
            ),
            Err(Rejection::TokenTypeInvalid),
        ),
        (
            "oauth for a machine",
            MachineJwt::OAuth,
            m2m(
                oauth_header.clone(),
                with(oauth_payload.clone(), "sub", json!("mch_1")),
            ),
            Err(Rejection::SubjectInvalid),
        ),
        (
            "oauth scp not strings",
            MachineJwt::OAuth,
            m2m(
                oauth_header.clone(),
                with(oauth_payload.clone(), "scp", json!([1])),
            ),
            Err(Rejection::TokenMalformed),
        ),
        (
            "oauth client_id not a string",
            MachineJwt::OAuth,
            m2m(
                oauth_header.clone(),
                with(oauth_payload.clone(), "client_id", json!(1)),
            ),
            Err(Rejection::TokenMalformed),
        ),
    ];
    for (name, kind, token, want) in cases {
        assert_eq!(
            verifier.verify_machine_jwt(&token, kind).await.map(|_| ()),
            want,
            "{name}"
        );
    }
    // `scp` wins over `scope`; empty entries are no scopes.
    let claims = verifier
        .verify_machine_jwt(&m2m(oauth_header, oauth_payload), MachineJwt::OAuth)
        .await
        .unwrap();
    assert_eq!(claims.scopes, ["read:foo", "write:bar"]);
    assert_eq!(claims.client_id.as_deref(), Some("client_1"));
}
