//! Development tools for this workspace: a Lambda runtime API emulator that runs the real
//! function binaries on loopback, and what is built on it (benchmarks, event checks).

pub mod cors;
pub mod events;
pub mod fuzz;
pub mod gateway;
pub mod runtime_api;

pub use runtime_api::{Function, HarnessError, Invocation, RuntimeApi};

/// Median of `values` (sorted in place); zero for none.
pub fn median<T: Ord + Copy + Default>(values: &mut [T]) -> T {
    values.sort_unstable();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// The `KEY=VALUE` lines of a dotenv file `make dev` reads (`DEV_ENV_FILE`, else `.env`
/// at the workspace root): `#` comments, blank lines and empty values skipped, quotes
/// around values removed. None when there is no such file.
pub fn dotenv() -> Vec<(String, String)> {
    let path = std::env::var("DEV_ENV_FILE").map_or_else(|_| workspace().join(".env"), Into::into);
    dotenv_file(&path)
}

/// The variables of `.env` whose values are still `.env.example`'s placeholders.
pub fn placeholders(env: &[(String, String)]) -> Vec<String> {
    let example = dotenv_file(&workspace().join(".env.example"));
    env.iter()
        .filter(|(k, v)| {
            matches!(
                k.as_str(),
                "CLERK_PUBLISHABLE_KEY"
                    | "CLERK_SECRET_KEY"
                    | "CLERK_WEBHOOK_SECRET"
                    | "CLERK_JWT_KEY"
            ) && example.iter().any(|(ek, ev)| ek == k && ev == v)
        })
        .map(|(k, _)| k.clone())
        .collect()
}

/// The `KEY=VALUE` lines of the dotenv file at `path` (as [`dotenv`] reads them).
pub fn dotenv_file(path: &std::path::Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
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

/// The project root, found from the working directory as cargo and git find theirs: the
/// nearest directory, this one or above, holding `template.yaml` and `Cargo.toml` (else the
/// working directory itself). Never the tree a binary was built in: a copied or installed
/// tool reads the `.env` and writes the `.local/` of the project it is run in.
pub fn workspace() -> std::path::PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
    root_from(&cwd).unwrap_or(cwd)
}

/// The nearest of `dir` and its ancestors that is a project root.
pub fn root_from(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    dir.ancestors()
        .find(|d| d.join("template.yaml").is_file() && d.join("Cargo.toml").is_file())
        .map(std::path::Path::to_path_buf)
}

/// The local API's base URL, `http://<loopback host>:<port>`, or why `raw` is not one.
/// Parsed, not prefix-matched: `http://localhost:1@elsewhere:80` names `elsewhere`, and a
/// tool that signs with `.env`'s real webhook secret must never send to it.
pub fn local_api_base(raw: &str) -> Result<String, String> {
    let refuse = |why: &str| {
        Err(format!(
            "{raw:?} is not the local API ({why}); expected http://127.0.0.1:PORT"
        ))
    };
    let Ok(url) = url::Url::parse(raw) else {
        return refuse("not a URL");
    };
    if url.scheme() != "http" {
        return refuse("the scheme must be http");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return refuse("no user name or password");
    }
    let host = match url.host() {
        Some(url::Host::Ipv4(ip)) if ip == std::net::Ipv4Addr::LOCALHOST => ip.to_string(),
        Some(url::Host::Ipv6(ip)) if ip == std::net::Ipv6Addr::LOCALHOST => format!("[{ip}]"),
        Some(url::Host::Domain("localhost")) => "localhost".to_owned(),
        _ => return refuse("the host must be 127.0.0.1, localhost or ::1"),
    };
    // `port_or_known_default`: the parser drops an explicit `:80` for http.
    let Some(port) = url.port_or_known_default().filter(|_| has_port(raw)) else {
        return refuse("a port is needed");
    };
    if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
        return refuse("no path, query or fragment");
    }
    Ok(format!("http://{host}:{port}"))
}

/// Whether the authority of `raw` names a port (`http://localhost:80` does, `http://localhost`
/// does not), which the parsed URL no longer tells for a scheme's default port.
fn has_port(raw: &str) -> bool {
    let authority = raw.split_once("://").map_or("", |(_, rest)| {
        rest.split(['/', '?', '#']).next().unwrap_or_default()
    });
    authority
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && !port.is_empty() && !port.ends_with(']'))
}

/// `DEV_PORT` as a port number (3000 when unset), or why it is not one.
pub fn dev_port(raw: Option<&str>) -> Result<u16, String> {
    match raw.map(str::trim) {
        None | Some("") => Ok(3000),
        Some(text) => text
            .parse::<u16>()
            .ok()
            .filter(|port| *port != 0)
            .ok_or_else(|| format!("DEV_PORT must be a port number (1-65535), not {text:?}")),
    }
}

/// The routes of `template.yaml`, read by `tools/template.py` with the project's venv.
pub fn template_routes() -> Result<gateway::Routes, String> {
    let root = workspace();
    let output = std::process::Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tools/template.py"))
        .arg("routes")
        .output()
        .map_err(|e| {
            format!("cannot run tools/template.py (is the venv set up? infra/venv.sh): {e}")
        })?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    serde_json::from_slice(&output.stdout).map_err(|e| format!("tools/template.py routes: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_api_is_parsed_not_prefix_matched() {
        for (raw, base) in [
            ("http://127.0.0.1:3000", "http://127.0.0.1:3000"),
            ("http://127.0.0.1:3000/", "http://127.0.0.1:3000"),
            ("http://localhost:8080", "http://localhost:8080"),
            ("http://[::1]:3000", "http://[::1]:3000"),
            ("http://localhost:80", "http://localhost:80"),
        ] {
            assert_eq!(local_api_base(raw).as_deref(), Ok(base), "{raw}");
        }
        for raw in [
            // The review's forms: userinfo that hides the real host.
            "http://localhost:1@evil.example:80",
            "http://127.0.0.1:3000@evil.example",
            "http://127.0.0.1:1@127.0.0.2:3000",
            "https://127.0.0.1:3000",
            "http://127.0.0.2:3000",
            "http://127.0.0.1",
            "http://[::1]",
            "http://127.0.0.1:3000/auth",
            "http://127.0.0.1:3000?x=1",
            "http://127.0.0.1:3000#x",
            "http://localhost.evil.example:3000",
            "127.0.0.1:3000",
            "",
        ] {
            let refused = local_api_base(raw).unwrap_err();
            assert!(refused.contains("is not the local API"), "{raw}: {refused}");
        }
    }

    #[test]
    fn dev_port_is_a_port_number() {
        assert_eq!(dev_port(None), Ok(3000));
        assert_eq!(dev_port(Some("")), Ok(3000));
        assert_eq!(dev_port(Some("8080")), Ok(8080));
        for raw in ["1@127.0.0.2:3000", "0", "65536", "-1", "30 00", "x"] {
            assert_eq!(
                dev_port(Some(raw)),
                Err(format!(
                    "DEV_PORT must be a port number (1-65535), not {raw:?}"
                )),
                "{raw}"
            );
        }
    }

    #[test]
    fn the_root_is_found_from_a_directory_below_it() {
        let here = std::env::current_dir().unwrap();
        let root = root_from(&here).expect("tests run inside the project");
        assert!(root.join("template.yaml").is_file());
        assert!(here.starts_with(&root));
        assert_eq!(root_from(std::path::Path::new("/")), None);
    }
}
