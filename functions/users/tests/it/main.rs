//! Integration tests of `users`: one binary (one link), a module per concern.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod api;
mod fuzz;
mod runtime_api;
mod support;
