//! Integration tests of `authorizer`: one binary (one link), a module per concern.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod events;
mod fuzz;
mod machines;
mod mirror;
mod policies;
mod runtime_api;
