//! `make reconcile`: one reconciliation run of the real `reconcile` binary, on the local
//! stack (the one `make dev` left running, or a fresh one), against the Backend API at
//! `CLERK_API_URL`.
//!
//! The secret key comes from the same place the other functions' does: `.env` when it holds
//! your instance's keys (as for `make dev`), else the local stack's secret, whose development
//! key Clerk refuses (the run then says `clerk-unavailable`). `RECONCILE_TIMEOUT_SECONDS`
//! (default 900, the template's) bounds the run as Lambda's timeout would. Prints the run's
//! summary; exits non-zero when the run failed.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;
use std::time::Duration;

use devtools::{Function, RuntimeApi};

#[tokio::main]
async fn main() -> ExitCode {
    let root = devtools::workspace();
    let from_file = devtools::dotenv();
    let mut env = vec![("STAGE".to_owned(), "dev".to_owned())];
    if from_file.iter().any(|(k, _)| k == "CLERK_SECRET_KEY") {
        // Your instance's key from .env, not the local stack's development secret.
        env.push(("CLERK_SECRET_ARN".to_owned(), String::new()));
    }
    env.extend(from_file);
    let timeout = std::env::var("RECONCILE_TIMEOUT_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(Duration::from_secs(900), Duration::from_secs);
    let logs = root.join(".local/logs");
    let _ = std::fs::create_dir_all(&logs);
    let log = logs.join("reconcile.log");
    let api = match RuntimeApi::start().await {
        Ok(api) => api,
        Err(error) => {
            eprintln!("cannot start the runtime API emulator: {error}");
            return ExitCode::FAILURE;
        }
    };
    api.set_timeout(timeout);
    let binary = root.join("target/debug/reconcile");
    let started = Function::spawn(&binary, &api, &env, Some(&log));
    let function = match started {
        Ok(function) => function,
        Err(error) => {
            eprintln!("cannot start {}: {error}", binary.display());
            return ExitCode::FAILURE;
        }
    };
    if let Err(error) = api.wait_ready(Duration::from_secs(30)).await {
        eprintln!("the reconcile function did not start: {error}");
        return ExitCode::FAILURE;
    }
    let api_url = env
        .iter()
        .rev()
        .find(|(k, _)| k == "CLERK_API_URL")
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var("CLERK_API_URL").ok())
        .unwrap_or_else(|| shared::config::DEFAULT_API_URL.to_owned());
    eprintln!(
        "reconciling the local stack's table with {api_url} (log: {})",
        log.display()
    );
    let event = serde_json::json!({ "source": "make reconcile", "detail-type": "Scheduled Event" });
    let answer = api.invoke(event, timeout + Duration::from_secs(10)).await;
    function.stop().await;
    match answer {
        Ok(outcome) if outcome.ok => {
            println!("{}", outcome.body);
            ExitCode::SUCCESS
        }
        Ok(outcome) => {
            eprintln!(
                "{}",
                outcome.body["errorMessage"].as_str().unwrap_or("failed")
            );
            eprintln!("(the log says more: {})", log.display());
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("no answer: {error}");
            ExitCode::FAILURE
        }
    }
}
