//! `make dev`: the local gateway on a fixed port, left running for a front end.
//!
//! With `CLERK_PUBLISHABLE_KEY` in `.env` (see `.env.example`) every value in `.env` is used
//! and real Clerk tokens are verified; without it the development key and webhook secret of
//! the local stack are, and the banner shows how to make a user and a token. A function that
//! cannot start ends this at once with its error; Ctrl-C or SIGTERM (`make stop`) stop the
//! functions too.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use devtools::events::DEV_PUBLISHABLE_KEY;
use devtools::gateway::Gateway;

#[tokio::main]
async fn main() -> ExitCode {
    let root = devtools::workspace();
    let port = match devtools::dev_port(std::env::var("DEV_PORT").ok().as_deref()) {
        Ok(port) => port,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    let from_file = devtools::dotenv();
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
    env.extend(from_file.iter().cloned());
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
            eprintln!("a function could not start: {error}");
            eprintln!("(full logs in .local/logs/)");
            let placeholders = devtools::placeholders(&from_file);
            if !placeholders.is_empty() {
                eprintln!(
                    ".env still holds .env.example's placeholders for {}: put your Clerk \
                     instance's values there (Dashboard → API Keys, Webhooks), or remove .env \
                     to use the development keys",
                    placeholders.join(", ")
                );
            } else if real_clerk {
                eprintln!("the values come from .env: check them against .env.example");
            }
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
        println!(
            "  .env: your Clerk instance's keys and secrets; real session tokens are verified"
        );
        println!("  and the development key is not trusted. Users arrive through Clerk's webhook");
        println!("  (e.g. an ngrok tunnel to the URL above) or the lazy sync of your own sign-in.");
    } else {
        println!("  no CLERK_PUBLISHABLE_KEY in .env: the development key and webhook secret.");
        println!("  A user (through the webhook) and a token for it, in another terminal:");
        println!("    make dev-user ID=user_123          (ADMIN=1, UNAPPROVED=1, INACTIVE=1)");
        println!("    curl -H \"Authorization: Bearer $TOKEN\" http://{addr}/me");
        println!("  with TOKEN set to the TOKEN=… line it prints.");
    }
    // `make stop` ends this process (and so its functions) by this file.
    let pid_file = root.join(".local/gateway.pid");
    let _ = std::fs::write(&pid_file, std::process::id().to_string());
    stopped().await;
    let _ = std::fs::remove_file(&pid_file);
    ExitCode::SUCCESS
}

/// Ctrl-C or SIGTERM: returning drops the gateway, which stops every function process.
async fn stopped() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
