//! Webhook signature verification over a 2 KB body vs a bare HMAC-SHA256 of the same bytes.
//!
//! - `hmac_sha256_floor`: hmac + sha2 (the implementation `svix` uses) over
//!   `{id}.{timestamp}.{body}`, the bytes the signature covers (the floor: verification
//!   cannot skip computing this MAC);
//! - `aws_lc_hmac_sha256`: aws-lc-rs `hmac::sign` of the same bytes (the implementation used
//!   before, for comparison);
//! - `svix_verify`: `shared::svix::verify`: header parsing, timestamp window, base64 of the
//!   signature, the MAC and its constant-time comparison.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;

use aws_lc_rs::hmac as aws_lc_hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use shared::svix::{SignedHeaders, WebhookSecret, verify};

fn bench(c: &mut Criterion) {
    let secret_text = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let secret = WebhookSecret::parse(secret_text).unwrap();
    let raw_key = STANDARD.decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
    let aws_lc_key = aws_lc_hmac::Key::new(aws_lc_hmac::HMAC_SHA256, &raw_key);
    let keyed = Hmac::<Sha256>::new_from_slice(&raw_key).unwrap();
    let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    let ts: i64 = 1_795_701_600;
    let ts_text = ts.to_string();
    // A Clerk user.created body padded to 2 KB.
    let mut body =
        include_str!("../../functions/webhook/tests/data/clerk/user.created.json").to_owned();
    body.truncate(body.trim_end().len() - 1);
    body.push_str(&format!(
        ",\"pad\":\"{}\"}}",
        "x".repeat(2048 - body.len() - 10)
    ));
    assert_eq!(body.len(), 2048);
    let signature = secret.sign(id, ts, body.as_bytes());
    let signed_content = format!("{id}.{ts}.{body}");
    let headers = SignedHeaders {
        id,
        timestamp: &ts_text,
        signature: &signature,
    };
    let secrets = [secret];
    verify(&secrets, &headers, body.as_bytes(), ts).unwrap();

    let mut group = c.benchmark_group("webhook");
    group.bench_function("hmac_sha256_floor", |b| {
        b.iter(|| {
            keyed
                .clone()
                .chain_update(black_box(signed_content.as_bytes()))
                .finalize()
        })
    });
    group.bench_function("aws_lc_hmac_sha256", |b| {
        b.iter(|| aws_lc_hmac::sign(&aws_lc_key, black_box(signed_content.as_bytes())))
    });
    group.bench_function("svix_verify", |b| {
        b.iter(|| {
            verify(
                &secrets,
                black_box(&headers),
                black_box(body.as_bytes()),
                ts,
            )
            .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
