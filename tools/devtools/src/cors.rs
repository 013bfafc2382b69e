//! The HTTP API's CORS, as `template.yaml`'s `CorsConfiguration` makes API Gateway apply it.
//!
//! What AWS documents (<https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html>):
//! API Gateway answers preflight `OPTIONS` requests itself when no `OPTIONS` route exists
//! (neither integration nor authorizer runs); it "adds the configured CORS headers to the
//! response from an integration" and "ignores CORS headers returned from your backend
//! integration"; allowed origins are exact values, `*`, or `https://*` / `http://*`.
//! What it does not document, and this emulation assumes: the preflight answer is 204;
//! the matching request origin is echoed (`*` when `*` is configured); and the same headers
//! go on the answers API Gateway makes itself (401 for a missing identity source or the
//! authorizer's `Unauthorized`, 403 for a deny), as observed on deployed HTTP APIs
//! (aws/aws-sam-cli#9087). Check a deployment with `curl -i -H 'Origin: …'`.

use http::{HeaderMap, HeaderValue};
use serde::Deserialize;

/// The `CorsConfiguration` of the template, parameters at their defaults.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Cors {
    /// `AllowOrigins`.
    pub allow_origins: Vec<String>,
    /// `AllowMethods`.
    pub allow_methods: Vec<String>,
    /// `AllowHeaders`.
    pub allow_headers: Vec<String>,
    /// `ExposeHeaders`.
    #[serde(default)]
    pub expose_headers: Vec<String>,
    /// `MaxAge`, seconds.
    pub max_age: Option<u64>,
    /// `AllowCredentials`.
    #[serde(default)]
    pub allow_credentials: bool,
}

impl Cors {
    /// The `Access-Control-Allow-Origin` value for a request from `origin`, if it is allowed.
    pub fn allow_origin(&self, origin: &str) -> Option<String> {
        self.allow_origins
            .iter()
            .find_map(|allowed| match allowed.as_str() {
                "*" => Some("*".to_owned()),
                pattern @ ("https://*" | "http://*") => origin
                    .strip_prefix(pattern.trim_end_matches('*'))
                    .filter(|host| !host.is_empty())
                    .map(|_| origin.to_owned()),
                exact => (exact == origin).then(|| origin.to_owned()),
            })
    }

    /// Replaces whatever CORS headers `headers` hold with the configured ones for `origin`;
    /// `preflight` adds the preflight-only headers.
    pub fn apply(&self, headers: &mut HeaderMap, origin: Option<&str>, preflight: bool) {
        let theirs: Vec<_> = headers
            .keys()
            .filter(|name| name.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for name in theirs {
            headers.remove(name);
        }
        let Some(allowed) = origin.and_then(|o| self.allow_origin(o)) else {
            return;
        };
        let mut set = |name: &'static str, value: String| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        };
        set("access-control-allow-origin", allowed);
        if self.allow_credentials {
            set("access-control-allow-credentials", "true".into());
        }
        if preflight {
            set("access-control-allow-methods", self.allow_methods.join(","));
            set("access-control-allow-headers", self.allow_headers.join(","));
            if let Some(max_age) = self.max_age {
                set("access-control-max-age", max_age.to_string());
            }
        } else if !self.expose_headers.is_empty() {
            set(
                "access-control-expose-headers",
                self.expose_headers.join(","),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(origins: &[&str]) -> Cors {
        Cors {
            allow_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
            allow_methods: vec!["GET".into(), "PATCH".into()],
            allow_headers: vec!["authorization".into()],
            max_age: Some(600),
            ..Cors::default()
        }
    }

    #[test]
    fn origins_match_exactly_or_by_the_documented_wildcards() {
        let exact = cors(&["http://localhost:5173"]);
        assert_eq!(
            exact.allow_origin("http://localhost:5173").as_deref(),
            Some("http://localhost:5173")
        );
        for other in ["http://localhost:5174", "http://LOCALHOST:5173", "null", ""] {
            assert_eq!(exact.allow_origin(other), None, "{other}");
        }
        assert_eq!(
            cors(&["*"]).allow_origin("https://x.example").as_deref(),
            Some("*")
        );
        let https = cors(&["https://*"]);
        assert_eq!(
            https.allow_origin("https://app.example").as_deref(),
            Some("https://app.example")
        );
        assert_eq!(https.allow_origin("http://app.example"), None);
        assert_eq!(https.allow_origin("https://"), None);
    }

    #[test]
    fn the_integrations_cors_headers_are_replaced_by_the_configured_ones() {
        let config = cors(&["http://localhost:5173"]);
        let mut headers = HeaderMap::new();
        headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        config.apply(&mut headers, Some("https://evil.example"), false);
        assert_eq!(headers.get("access-control-allow-origin"), None);
        assert_eq!(headers.len(), 1);

        config.apply(&mut headers, Some("http://localhost:5173"), false);
        assert_eq!(
            headers["access-control-allow-origin"],
            "http://localhost:5173"
        );
        assert_eq!(headers.get("access-control-allow-methods"), None);

        config.apply(&mut headers, Some("http://localhost:5173"), true);
        assert_eq!(headers["access-control-allow-methods"], "GET,PATCH");
        assert_eq!(headers["access-control-allow-headers"], "authorization");
        assert_eq!(headers["access-control-max-age"], "600");
        assert_eq!(headers.get("access-control-allow-credentials"), None);
    }
}
