//! The authorizer's warm decision with a 20-route `ROUTE_POLICIES` document against the same
//! decision with none, measured in the same run (the store's `GetItem` left out: it is the
//! same call either way, and a network round trip would drown the difference).
//!
//! One iteration is what the handler does with an event once it is JSON: read the request,
//! its token and route, verify the token (warm JWKS), build the context, check the route's
//! policy and, for REST, what one cached answer may allow across all 20 routes, and write
//! the answer. Groups, each with its floor `no_policies`:
//! - `decision_http`: an HTTP API (payload 2.0) event for `GET /resource10/{id}`;
//! - `decision_rest`: a REST TOKEN event for `GET /resource10/42` (the answer then denies
//!   the 19 routes whose permission the caller lacks).
//!
//! `tools/bench-report.py decision_http no_policies` (and `decision_rest`) print the ratios.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::hint::black_box;

use common::{Events, decide};
use criterion::{Criterion, criterion_group, criterion_main};
use shared::policy::PolicyDocument;
use testkit::bench::{Fixture, twenty_routes};

fn bench(c: &mut Criterion) {
    let fixture = Fixture::new();
    let Events { http, rest } = Events::new(&fixture.token);
    let none = PolicyDocument::default();
    let twenty = twenty_routes();
    // Both documents let this caller in on this route: the rows differ by the policy work.
    for (document, event) in [
        (&none, &http),
        (&twenty, &http),
        (&none, &rest),
        (&twenty, &rest),
    ] {
        let answer = decide(&fixture.jwks, document, event);
        let allowed = answer["isAuthorized"] == true
            || answer["policyDocument"]["Statement"][0]["Effect"] == "Allow";
        assert!(allowed, "{answer}");
    }
    for (group, event) in [("decision_http", &http), ("decision_rest", &rest)] {
        let mut group = c.benchmark_group(group);
        group.bench_function("no_policies", |b| {
            b.iter(|| decide(&fixture.jwks, &none, black_box(event)))
        });
        group.bench_function("20_route_policies", |b| {
            b.iter(|| decide(&fixture.jwks, &twenty, black_box(event)))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
