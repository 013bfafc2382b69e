//! Instruction counts per operation, for callgrind: wall-clock ratios on a shared 2-core
//! machine swing by more than the differences they measure, instruction counts do not.
//!
//! `instructions ROW N` builds the fixtures, runs ROW once to warm it, then N times inside
//! `measured`, the only function `tools/bench-instructions.py` has callgrind count
//! (`--toggle-collect`). `instructions --rows` lists the rows; without a row (as `cargo test`
//! runs it) every row runs once. Rows: the `verify` group of `shared/benches/verify.rs` and the
//! decision groups of `benches/decision.rs`, by the same names.

// A command-line tool: its output is the point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr,
    missing_docs
)]

mod common;

use std::hint::black_box;

use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::{Events, decide};
use shared::machine::TokenType;
use shared::policy::PolicyDocument;
use shared::token::MachineJwt;
use testkit::bench::{Fixture, ready, twenty_routes, warm_machine_cache};

/// Every row, by its benchmark name.
pub const ROWS: &[&str] = &[
    "verify/rsa_verify_floor",
    "verify/verifier_jwks_warm",
    "verify/verifier_pem",
    "verify/verifier_m2m_jwt_warm",
    "machine_cache/hashmap_floor",
    "machine_cache/cache_hit",
    "decision_http/no_policies",
    "decision_http/20_route_policies",
    "decision_rest/no_policies",
    "decision_rest/20_route_policies",
];

#[inline(never)]
fn measured(iterations: u32, row: &mut dyn FnMut()) {
    for _ in 0..iterations {
        row();
    }
}

fn floor_key(fixture: &Fixture) -> ParsedPublicKey {
    let jwk = fixture.key.jwk();
    let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
    let e = URL_SAFE_NO_PAD.decode(jwk["e"].as_str().unwrap()).unwrap();
    RsaPublicKeyComponents {
        n: &n[..],
        e: &e[..],
    }
    .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
    .unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match &args[..] {
        [row, iterations] if !row.starts_with('-') => {
            let iterations = iterations.parse().expect("ITERATIONS is a number");
            measure(row, iterations)
        }
        [flag] if flag == "--rows" => println!("{}", ROWS.join(" ")),
        // `cargo test` (no arguments) or `cargo bench` (`--bench`): each row works.
        [] | [_] => ROWS.iter().for_each(|row| measure(row, 1)),
        _ => {
            eprintln!(
                "usage: instructions ROW ITERATIONS\nrows: {}",
                ROWS.join(" ")
            );
            std::process::exit(2);
        }
    }
}

fn measure(row: &str, iterations: u32) {
    let fixture = Fixture::new();
    let (signing_input, signature) = fixture.token.rsplit_once('.').unwrap();
    let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
    let parsed = floor_key(&fixture);
    let events = Events::new(&fixture.token);
    let (none, twenty) = (PolicyDocument::default(), twenty_routes());
    let (cache, map, secret) = warm_machine_cache();
    let token = fixture.token.as_str();
    let verify = |verifier| {
        move || {
            drop(black_box(
                ready(shared::Verifier::verify(verifier, black_box(token))).unwrap(),
            ))
        }
    };
    let mut run: Box<dyn FnMut()> = match row {
        "verify/rsa_verify_floor" => Box::new(|| {
            parsed
                .verify_sig(black_box(signing_input.as_bytes()), black_box(&signature))
                .unwrap()
        }),
        "verify/verifier_jwks_warm" => Box::new(verify(&fixture.jwks)),
        "verify/verifier_pem" => Box::new(verify(&fixture.pem)),
        "verify/verifier_m2m_jwt_warm" => Box::new(|| {
            let verified = fixture
                .jwks
                .verify_machine_jwt(black_box(&fixture.m2m_token), MachineJwt::M2m);
            drop(black_box(ready(verified).unwrap()))
        }),
        "machine_cache/hashmap_floor" => {
            Box::new(|| drop(black_box(map.get(black_box(secret)).cloned().unwrap())))
        }
        "machine_cache/cache_hit" => Box::new(|| {
            let lookup = || async { unreachable!("a warm cache asks nothing") };
            let hit = cache.get(TokenType::ApiKey, black_box(secret), lookup);
            drop(black_box(ready(hit).unwrap().unwrap()))
        }),
        "decision_http/no_policies" => {
            Box::new(|| drop(decide(&fixture.jwks, &none, black_box(&events.http))))
        }
        "decision_http/20_route_policies" => {
            Box::new(|| drop(decide(&fixture.jwks, &twenty, black_box(&events.http))))
        }
        "decision_rest/no_policies" => {
            Box::new(|| drop(decide(&fixture.jwks, &none, black_box(&events.rest))))
        }
        "decision_rest/20_route_policies" => {
            Box::new(|| drop(decide(&fixture.jwks, &twenty, black_box(&events.rest))))
        }
        other => {
            eprintln!("unknown row {other}; rows: {}", ROWS.join(" "));
            std::process::exit(2);
        }
    };
    run();
    measured(iterations, &mut run);
}
