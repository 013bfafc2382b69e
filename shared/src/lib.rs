//! Clerk authentication for AWS Lambda: everything the functions share.
//!
//! - [`config`]: typed configuration from the environment, read once per cold start.
//! - [`PublishableKey`]: the Frontend API host, issuer and JWKS URL inside `pk_…` keys.
//! - [`secrets`]: Clerk's secrets from Secrets Manager (or the environment), cached.
//! - [`store`]: users in DynamoDB, with atomic uniqueness and Clerk-ordered writes.
//! - [`token`]: Clerk session token verification; [`keys`]: its keys and JWKS cache;
//!   [`machine`]: machine tokens (M2M, API keys, OAuth) told apart from sessions. Neither
//!   reads the environment: [`services`] (the composition root) builds them from [`config`].
//! - [`http`]: the HTTP client for Clerk and capped body reads (keys and Backend API).
//! - [`svix`]: webhook signatures; [`clerk`]: Clerk's events and users; [`mirror`]: storing
//!   a Clerk user (webhook and lazy sync share it); [`clerk_api`]: the Backend API call.
//! - [`logging`]: log output as Lambda expects it; [`metrics`]: counts as EMF lines.
//! - [`Services`]: what every function builds once per cold start; [`dev`]: the fixed
//!   development user. Test support (keys, tokens, a fake Clerk) is the `testkit` crate.
//!
//! Nothing here depends on the Lambda runtime, so it can be used from any Rust service.

pub mod aws;
pub mod clerk;
pub mod clerk_api;
pub mod clock;
pub mod config;
pub mod context;
pub mod dev;
pub mod http;
pub mod key_shape;
pub mod keys;
mod list;
pub mod logging;
pub mod machine;
pub mod metrics;
pub mod mirror;
pub mod policy;
mod publishable_key;
mod redacted;
pub mod secrets;
pub mod services;
pub mod store;
pub mod svix;
pub mod token;

pub use config::{Config, ConfigError, Stage};
pub use context::CallerContext;
pub use publishable_key::{Instance, PublishableKey, PublishableKeyError};
pub use redacted::Secret;
pub use secrets::{ClerkSecrets, SecretsError, SecretsProvider};
pub use services::Services;
pub use store::{StoreError, User, UserStore};
pub use token::{Claims, Rejection, Verifier};
