//! `make dev`: the local gateway on a fixed port, left running for a front end.
//!
//! With real Clerk keys in `.env` (see `.env.example`) it verifies real Clerk tokens; without
//! them it trusts the development key only, and prints how to mint a token.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use devtools::events::DEV_PUBLISHABLE_KEY;
use devtools::gateway::Gateway;

/// `KEY=VALUE` lines; `#` comments and blank lines skipped, quotes around values removed.
fn dotenv(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            (
                k.trim().to_owned(),
                v.trim().trim_matches('"').trim_matches('\'').to_owned(),
            )
        })
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

#[tokio::main]
async fn main() -> ExitCode {
    let root = devtools::workspace();
    let port: u16 = std::env::var("DEV_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let from_file = std::fs::read_to_string(root.join(".env"))
        .map(|t| dotenv(&t))
        .unwrap_or_default();
    let real_clerk = from_file.iter().any(|(k, _)| k == "CLERK_PUBLISHABLE_KEY");
    let mut env = vec![
        ("STAGE".to_owned(), "dev".to_owned()),
        (
            "CORS_ORIGINS".to_owned(),
            "http://localhost:5173".to_owned(),
        ),
    ];
    if real_clerk {
        // Real keys come from .env, not from the local stack's development secret.
        env.push(("CLERK_SECRET_ARN".to_owned(), String::new()));
    } else {
        env.push((
            "CLERK_PUBLISHABLE_KEY".to_owned(),
            DEV_PUBLISHABLE_KEY.to_owned(),
        ));
    }
    env.extend(from_file);
    let routes = match devtools::template_routes() {
        Ok(routes) => routes,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let gateway = match Gateway::start(
        routes,
        &root.join("target/debug"),
        &env,
        &root.join(".local/logs"),
    )
    .await
    {
        Ok(gateway) => Arc::new(gateway),
        Err(error) => {
            eprintln!("starting the functions: {error} (logs in .local/logs/)");
            return ExitCode::FAILURE;
        }
    };
    let addr = match gateway
        .serve(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
    {
        Ok(addr) => addr,
        Err(error) => {
            eprintln!("cannot listen on 127.0.0.1:{port}: {error} (set DEV_PORT)");
            return ExitCode::FAILURE;
        }
    };
    println!("API on http://{addr}   (function logs: .local/logs/, Ctrl-C stops)");
    println!("  webhook: POST http://{addr}/auth/clerk/webhook");
    if real_clerk {
        println!("  verifying real Clerk session tokens (keys from .env)");
    } else {
        println!("  no .env: trusting the development key only. A token for a user:");
        println!("    TOKEN=$(cargo run -q -p devtools --bin mint-token -- user_123)");
        println!("    curl -H \"Authorization: Bearer $TOKEN\" http://{addr}/me");
    }
    std::future::pending::<()>().await;
    ExitCode::SUCCESS
}
