//! `make dev-user ID=user_123 [ADMIN=1] [UNAPPROVED=1] [INACTIVE=1] [EMAIL=…]`: a local user,
//! created through the real webhook path of a running `make dev`, and a session token for
//! it, ready for curl.
//!
//! The user comes in as Clerk would send it: a `user.created` event, Svix-signed with the
//! webhook secret `make dev` uses (`.env`'s, else the development one), posted to the local
//! API. Flags no Clerk event sets (unapproved, inactive) are then set as an admin's PATCH
//! sets them, in the local table. The token is signed with the development key, which
//! `make dev` trusts only without real Clerk keys in `.env`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use devtools::events::{DEV_WEBHOOK_SECRET, clerk_user, dev_key, dev_token, webhook_event};
use shared::store::FlagsPatch;

const USAGE: &str = "usage: dev-user <clerk_user_id> [--admin] [--unapproved] [--inactive] \
                     [--email ADDRESS] [--api URL]";

struct Args {
    id: String,
    admin: bool,
    unapproved: bool,
    inactive: bool,
    email: Option<String>,
    api: String,
}

fn parse(mut raw: impl Iterator<Item = String>) -> Result<Args, String> {
    let port = devtools::dev_port(std::env::var("DEV_PORT").ok().as_deref())?;
    let mut args = Args {
        id: String::new(),
        admin: false,
        unapproved: false,
        inactive: false,
        email: None,
        api: format!("http://127.0.0.1:{port}"),
    };
    while let Some(arg) = raw.next() {
        match arg.as_str() {
            "--admin" => args.admin = true,
            "--unapproved" => args.unapproved = true,
            "--inactive" => args.inactive = true,
            "--email" => args.email = Some(raw.next().ok_or("--email needs an address")?),
            "--api" => args.api = raw.next().ok_or("--api needs a URL")?,
            id if !id.starts_with('-') && args.id.is_empty() => args.id = id.to_owned(),
            other => return Err(format!("unexpected argument {other}")),
        }
    }
    // It signs with .env's real webhook secret when there is one: never send that to
    // anything but the local API.
    args.api = devtools::local_api_base(&args.api).map_err(|why| format!("--api: {why}"))?;
    if !shared::clerk::is_user_id(&args.id) {
        return Err("a Clerk user id is needed, e.g. user_123 (letters, digits, _ and -)".into());
    }
    Ok(args)
}

/// `.env`'s value of `name`, if `make dev` reads one.
fn dotenv(name: &str) -> Option<String> {
    devtools::dotenv()
        .into_iter()
        .find_map(|(key, value)| (key == name).then_some(value))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(error) => {
            eprintln!("{error}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let tail = args.id.trim_start_matches("user_").to_lowercase();
    let email = args.email.clone().unwrap_or(format!("{tail}@example.com"));
    // Clerk's `updated_at` in ms: a second run updates the same user (its profile, role).
    let body = clerk_user("user.created", &args.id, &email, args.admin, now * 1000);
    let secret = dotenv("CLERK_WEBHOOK_SECRET").unwrap_or_else(|| DEV_WEBHOOK_SECRET.into());
    let event = webhook_event(
        &format!("msg_dev_user_{}_{now}", args.id),
        &body,
        &secret,
        now,
    );
    let headers = &event["headers"];
    // Straight to the local API: no proxy from the environment (HTTP_PROXY would receive the
    // signed delivery) and no redirect (a 307 from whatever holds the port would re-send it).
    let client = match reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            eprintln!("no HTTP client: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut request = client
        .post(format!("{}/auth/clerk/webhook", args.api))
        .header("content-type", "application/json")
        .body(event["body"].as_str().unwrap_or_default().to_owned());
    for name in ["svix-id", "svix-timestamp", "svix-signature"] {
        request = request.header(name, headers[name].as_str().unwrap_or_default());
    }
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(error) => {
            eprintln!(
                "no local API at {} ({error}): start it with `make dev`",
                args.api
            );
            return ExitCode::FAILURE;
        }
    };
    let status = answer.status().as_u16();
    let text = answer.text().await.unwrap_or_default();
    if status != 200 {
        eprintln!("the webhook answered {status} {text}");
        if status == 401 {
            eprintln!("(signed with .env's CLERK_WEBHOOK_SECRET if set, else the development one)");
        }
        return ExitCode::FAILURE;
    }
    if args.unapproved || args.inactive {
        let patch = FlagsPatch {
            is_active: args.inactive.then_some(false),
            is_approved: args.unapproved.then_some(false),
            is_admin: None,
        };
        if let Err(error) = set_flags(&args.id, patch).await {
            eprintln!("created, but setting the flags failed: {error}");
            return ExitCode::FAILURE;
        }
    }
    let role = if args.admin { "admin" } else { "member" };
    let mut flags = vec![role];
    flags.extend(args.unapproved.then_some("unapproved"));
    flags.extend(args.inactive.then_some("inactive"));
    println!(
        "{} <{email}> ({}) through the webhook: {text}",
        args.id,
        flags.join(", ")
    );
    if dotenv("CLERK_PUBLISHABLE_KEY").is_some() {
        println!(
            "make dev verifies real Clerk tokens (.env): sign in as this user in your front end \
             to get one; a development token would be refused."
        );
    } else {
        let token = dev_token(&dev_key(), &args.id, now);
        println!("TOKEN={token}");
        println!(
            "curl -H \"Authorization: Bearer $TOKEN\" {}/me   (the token is valid 1 h)",
            args.api
        );
    }
    ExitCode::SUCCESS
}

/// Sets flags in the local table as an admin's PATCH does (the stack's environment:
/// `AWS_ENDPOINT_URL`, `USERS_TABLE`).
async fn set_flags(id: &str, patch: FlagsPatch) -> Result<(), String> {
    let table = std::env::var("USERS_TABLE").map_err(|_| "USERS_TABLE is not set")?;
    let sdk = shared::aws::sdk_config().await;
    let store = shared::UserStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    store
        .set_flags(id, patch)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}
