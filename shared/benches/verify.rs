//! Token verification with a warm key cache vs the bare RS256 signature check it contains.
//!
//! Rows, all over the same RSA-2048 key and the same Clerk-shaped token:
//! - `rsa_verify_floor`: aws-lc-rs `ParsedPublicKey::verify_sig` of the signing input (the
//!   floor: no verifier can be cheaper than its signature check);
//! - `jsonwebtoken_signature`: the signature check alone, through jsonwebtoken's provider hook
//!   (`jsonwebtoken::crypto::verify`) with a key `keys` parsed: base64url, lookup, RSA;
//! - `verifier_jwks_warm`: `Verifier::verify`, keys from a JWKS already in the cache;
//! - `verifier_jwks_warm_20_route_policies`: the same, then the route's policy found among a
//!   20-route `ROUTE_POLICIES` document and checked (the authorizer's added work per request);
//! - `verifier_pem`: `Verifier::verify`, key from `CLERK_JWT_KEY`;
//! - `verifier_m2m_jwt_warm`: `Verifier::verify_machine_jwt` of an M2M JWT, same key;
//! - `jsonwebtoken_decode`: plain jsonwebtoken 11 `decode` on its own aws-lc-rs provider, with a
//!   cached `DecodingKey`, for comparison.
//!
//! Group `machine_cache`: an opaque machine token's answer from a warm
//! `MachineTokenCache` (`cache_hit`) against a plain `HashMap` lookup by the token
//! (`hashmap_floor`).
//!
//! `tools/bench-report.py` turns the results into the ratios in BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::hint::black_box;

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use shared::keys::RsaKey;
use shared::machine::TokenType;
use shared::policy::{RouteKey, Subject};
use shared::token::MachineJwt;
use testkit::bench::{Fixture, ISSUER, ready, twenty_routes, warm_machine_cache};

fn bench(c: &mut Criterion) {
    let Fixture {
        key,
        token,
        jwks: jwks_verifier,
        pem: pem_verifier,
        m2m_token,
    } = Fixture::new();
    let (signing_input, signature_b64) = token.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature_b64).unwrap();

    let jwk = key.jwk();
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
    let parsed = RsaPublicKeyComponents {
        n: &n[..],
        e: &e[..],
    }
    .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
    .unwrap();
    let pem_key = RsaKey::from_pem(&key.public_pem()).unwrap();

    // The same key read from its PEM: held as DER, not as the components `keys` registered,
    // so jsonwebtoken's own provider verifies with it and parses the key on every call, as
    // plain `decode` with a cached `DecodingKey` does.
    let jwt_key = jsonwebtoken::DecodingKey::from_rsa_pem(key.public_pem().as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_issuer(&[ISSUER]);
    validation.leeway = 5;

    let mut group = c.benchmark_group("verify");
    group.bench_function("rsa_verify_floor", |b| {
        b.iter(|| {
            parsed
                .verify_sig(black_box(signing_input.as_bytes()), black_box(&signature))
                .unwrap()
        })
    });
    group.bench_function("jsonwebtoken_signature", |b| {
        b.iter(|| {
            let ok = jsonwebtoken::crypto::verify(
                black_box(signature_b64),
                black_box(signing_input.as_bytes()),
                pem_key.decoding_key(),
                jsonwebtoken::Algorithm::RS256,
            );
            assert!(ok.unwrap());
        })
    });
    group.bench_function("verifier_jwks_warm", |b| {
        b.iter(|| ready(jwks_verifier.verify(black_box(&token))).unwrap())
    });
    // The authorizer's added work with route policies: the same verify, then the route's
    // policy found among 20 and checked against the claims (the 11th route, a permission).
    let document = twenty_routes();
    let route = RouteKey::parse("GET /resource10/{id}").unwrap();
    group.bench_function("verifier_jwks_warm_20_route_policies", |b| {
        b.iter(|| {
            let claims = ready(jwks_verifier.verify(black_box(&token))).unwrap();
            let subject = Subject::from_claims(&claims, false);
            let policy = document.for_route_key(black_box(&route)).unwrap();
            // Every dimension asked is checked, and passes.
            policy.check(&subject).unwrap();
        })
    });
    // A machine JWT through the same keys: M2M (header category, `mch_` subject, scopes).
    group.bench_function("verifier_m2m_jwt_warm", |b| {
        b.iter(|| {
            ready(jwks_verifier.verify_machine_jwt(black_box(&m2m_token), MachineJwt::M2m)).unwrap()
        })
    });
    group.bench_function("verifier_pem", |b| {
        b.iter(|| ready(pem_verifier.verify(black_box(&token))).unwrap())
    });
    group.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<serde_json::Value>(black_box(&token), &jwt_key, &validation)
                .unwrap()
        })
    });
    group.finish();

    // An opaque machine token's answer from a warm cache (keyed hash, lock, map, clone)
    // against the cheapest lookup there is: a plain map by the token itself.
    let (cache, map, secret) = warm_machine_cache();
    let mut group = c.benchmark_group("machine_cache");
    group.bench_function("hashmap_floor", |b| {
        b.iter(|| map.get(black_box(secret)).cloned().unwrap())
    });
    group.bench_function("cache_hit", |b| {
        b.iter(|| {
            let lookup = || async { unreachable!("a warm cache asks nothing") };
            ready(cache.get(TokenType::ApiKey, black_box(secret), lookup))
                .unwrap()
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
