//! Integration tests of `reconcile`: one binary (one link), a module per concern.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod converge;
mod runs;
mod storm;
mod support;
