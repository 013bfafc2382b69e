//! Machine callers: Clerk's M2M tokens, API keys and OAuth access tokens, told apart from
//! session tokens before anything is verified ([`kind`]).

pub mod backend;
pub mod cache;
pub mod kind;

pub use kind::{Form, TokenType, TypeError, recognize};
