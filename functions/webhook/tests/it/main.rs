//! Integration tests of `webhook`: one binary (one link), a module per concern.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod deliveries;
mod fuzz;
mod mirror;
mod ordering;
mod runtime_api;
mod support;
