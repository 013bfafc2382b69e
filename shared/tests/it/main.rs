//! Integration tests of `shared`: one binary (one link), a module per concern.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod docs;
mod fuzz;
mod jwks_cache;
mod machine;
mod secrets;
mod store;
mod svix;
mod verify;
