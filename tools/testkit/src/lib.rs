//! Test support: RSA keys that mint Clerk-shaped tokens, a fake Clerk (JWKS and Backend API)
//! served over real HTTP on loopback, fresh tables on the local stack, and a DynamoDB proxy
//! that applies one request at a time.
//!
//! A crate of its own, a dev-dependency of the crates that test with it (and a dependency of
//! the development tools), so no shipped or benchmarked function is ever built with it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;

pub mod bapi;
pub mod bench;
mod clerk;
pub mod clerk_fixtures;
mod keys;
pub mod serial_proxy;
pub mod serve;
mod stack;

pub use clerk::{FakeClerk, Reply, Seen};
pub use keys::{TestKey, session_claims};
pub use stack::{
    fresh_store, fresh_table, local_stack_sdk_config, missing_table_store, profile, serial_store,
    table_spec,
};

/// A loopback endpoint for configurations built from pairs ([`config`]) that must run
/// against a local stack, as the development bypass requires (only its host is read).
pub const LOCAL_STACK: &str = "http://127.0.0.1:4566";

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

/// The documentation pages that list reason codes or variables, by name: `docs/{name}.md`, read when the
/// tests are built.
const DOC_PAGES: &[(&str, &str)] = &[
    ("authorizer", include_str!("../../../docs/authorizer.md")),
    ("webhook", include_str!("../../../docs/webhook.md")),
    ("users-api", include_str!("../../../docs/users-api.md")),
    (
        "configuration",
        include_str!("../../../docs/configuration.md"),
    ),
];

/// The text of `docs/{page}.md`; panics naming a page not in `DOC_PAGES`.
pub fn doc_page(page: &str) -> &'static str {
    DOC_PAGES
        .iter()
        .find(|(name, _)| *name == page)
        .map(|(_, text)| *text)
        .unwrap_or_else(|| panic!("docs/{page}.md is not one of testkit's documentation pages"))
}

/// Asserts that each code is written, in backticks, in `docs/{page}.md`: the reference a
/// user reads when an answer carries it.
pub fn assert_documented<'a>(page: &str, codes: impl IntoIterator<Item = &'a str>) {
    let text = doc_page(page);
    for code in codes {
        assert!(
            text.contains(&format!("`{code}`")),
            "`{code}` is not in docs/{page}.md"
        );
    }
}

/// One EMF point: the metric's name, every dimension with its value, and the count.
pub type EmfPoint = (String, std::collections::BTreeMap<String, String>, u64);

/// The EMF points a function wrote to its log (`shared::metrics`), after checking each is
/// one CloudWatch reads (namespace, the dimension set naming exactly the point's dimensions,
/// a whole count of at least 1).
pub fn emf_points(log: &str) -> Vec<EmfPoint> {
    let mut points = Vec::new();
    for line in log.lines().filter(|l| l.contains("\"_aws\"")) {
        let point: serde_json::Value = serde_json::from_str(line).expect("an EMF line is JSON");
        let directive = &point["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], shared::metrics::NAMESPACE, "{line}");
        assert!(point["_aws"]["Timestamp"].as_u64().is_some(), "{line}");
        let name = directive["Metrics"][0]["Name"].as_str().unwrap().to_owned();
        assert_eq!(directive["Metrics"][0]["Unit"], "Count", "{line}");
        let count = point[&name].as_u64().filter(|n| *n >= 1);
        let count = count.unwrap_or_else(|| panic!("a count of at least 1 in {line}"));
        let dimensions = directive["Dimensions"][0]
            .as_array()
            .unwrap()
            .iter()
            .map(|key| {
                let key = key.as_str().unwrap().to_owned();
                let value = point[&key]
                    .as_str()
                    .unwrap_or_else(|| panic!("{key} in {line}"));
                (key, value.to_owned())
            })
            .collect();
        points.push((name, dimensions, count));
    }
    points
}

/// The sum of `name` with (at least) these dimension values over the EMF points in `log`,
/// as CloudWatch's `Sum` reads it.
pub fn emf_count(log: &str, name: &str, dimensions: &[(&str, &str)]) -> usize {
    emf_points(log)
        .iter()
        .filter(|(n, dims, _)| {
            n == name
                && dimensions
                    .iter()
                    .all(|(k, v)| dims.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|(_, _, count)| usize::try_from(*count).unwrap_or(usize::MAX))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_its_file() {
        let page = doc_page("webhook");
        assert!(page.starts_with("# The webhook\n"));
        assert!(page.contains("`webhook-secret-missing`"));
    }

    #[test]
    #[should_panic(expected = "`no-such-code` is not in docs/webhook.md")]
    fn an_undocumented_code_fails() {
        assert_documented("webhook", ["created", "no-such-code"]);
    }

    #[test]
    #[should_panic(expected = "docs/no-such-page.md is not one of testkit's documentation pages")]
    fn an_unknown_page_fails() {
        assert_documented("no-such-page", ["created"]);
    }
}
