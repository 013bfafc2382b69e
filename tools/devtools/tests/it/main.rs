//! Integration tests of `devtools`: one binary (one link), a module per concern.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cache_key;
mod concurrency;
mod events;
mod newcomer;
mod security;
mod support;
