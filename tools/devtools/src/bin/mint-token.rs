//! Prints a development session token (signed with the committed development key, valid
//! 1 h) for a Clerk user id: `target/debug/mint-token user_123` (built by `make dev`). For a
//! user that exists too, `make dev-user` makes one through the webhook and prints its token.
//! Only the local configuration (`make dev`, `make demo`, events/) trusts this key.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

fn main() -> ExitCode {
    let Some(sub) = std::env::args().nth(1) else {
        eprintln!("usage: mint-token <clerk_user_id>");
        return ExitCode::from(2);
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    println!(
        "{}",
        devtools::events::dev_token(&devtools::events::dev_key(), &sub, now)
    );
    ExitCode::SUCCESS
}
