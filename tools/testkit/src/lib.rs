//! Test support: RSA keys that mint Clerk-shaped tokens, a fake Clerk (JWKS and Backend API)
//! served over real HTTP on loopback, fresh tables on the local stack, and a DynamoDB proxy
//! that applies one request at a time.
//!
//! A crate of its own, a dev-dependency of the crates that test with it (and a dependency of
//! the development tools), so no shipped or benchmarked function is ever built with it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;

mod clerk;
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

/// The README's `## {heading}` section, up to the next `## ` heading.
pub fn readme_section(heading: &str) -> &'static str {
    let readme = include_str!("../../../README.md");
    let start = readme
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("the README has no `## {heading}` section"));
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    &rest[..end]
}

/// Asserts that each code is written, in backticks, in the README's `## {heading}` section:
/// the reference a user reads when an answer carries it.
pub fn assert_documented<'a>(heading: &str, codes: impl IntoIterator<Item = &'a str>) {
    let section = readme_section(heading);
    for code in codes {
        assert!(
            section.contains(&format!("`{code}`")),
            "`{code}` is not in the README's \"{heading}\" section"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_ends_at_the_next_heading() {
        let section = readme_section("The webhook");
        assert!(section.starts_with("## The webhook\n"));
        assert!(!section[3..].contains("\n## "));
        assert!(section.contains("`webhook-secret-missing`"));
    }

    #[test]
    #[should_panic(expected = "`no-such-code` is not in the README's \"The webhook\" section")]
    fn an_undocumented_code_fails() {
        assert_documented("The webhook", ["created", "no-such-code"]);
    }
}
