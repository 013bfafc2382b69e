//! API Gateway events made safe for lambda_http's conversion into a request.
//!
//! lambda_http 1.3 panics, rather than failing, on a few events while it turns them into an
//! `http::Request`: a `host` (or domain name) that is not a valid host, an
//! `x-forwarded-proto` that is not a scheme, a path, stage or query with bytes a URI cannot
//! hold, a body flagged base64 that is not base64. API Gateway sends none of these, but the
//! functions are built with `panic = "abort"`, where such a panic would end the instance. So
//! every event goes through [`sanitize`] first: an event API Gateway could send is left
//! exactly as it is, anything else is rewritten into something the conversion accepts.

use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lambda_http::http::HeaderMap;
use lambda_http::http::header::HOST;
use lambda_http::request::LambdaRequest;

const FORWARDED_PROTO: &str = "x-forwarded-proto";

/// Longest stage name kept (API Gateway's own limit is 128 characters).
const MAX_STAGE: usize = 128;
/// Longest path and query kept, after encoding. API Gateway refuses request lines past about
/// 10 KB; with these bounds the URI stays well under the 64 KiB the `http` crate accepts.
const MAX_PATH_OR_QUERY: usize = 16 * 1024;

/// Rewrites what lambda_http could not convert; see the module docs.
pub fn sanitize(request: &mut LambdaRequest) {
    match request {
        LambdaRequest::ApiGatewayV2(event) => {
            headers(&mut event.headers);
            host(&mut event.request_context.domain_name);
            stage(&mut event.request_context.stage);
            path(&mut event.raw_path);
            if let Some(query) = &mut event.raw_query_string {
                encode_outside(query, is_query_byte);
                if query.len() > MAX_PATH_OR_QUERY {
                    query.clear();
                }
            }
            body(&mut event.body, &mut event.is_base64_encoded);
        }
        LambdaRequest::ApiGatewayV1(event) => {
            headers(&mut event.headers);
            headers(&mut event.multi_value_headers);
            host(&mut event.request_context.domain_name);
            stage(&mut event.request_context.stage);
            path(&mut event.path);
            // lambda_http form-encodes these maps itself; only their length needs a bound.
            let query_len = |map: &lambda_http::aws_lambda_events::query_map::QueryMap| {
                map.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
            };
            if query_len(&event.query_string_parameters) * 3 > MAX_PATH_OR_QUERY
                || query_len(&event.multi_value_query_string_parameters) * 3 > MAX_PATH_OR_QUERY
            {
                event.query_string_parameters = Default::default();
                event.multi_value_query_string_parameters = Default::default();
            }
            body(&mut event.body, &mut event.is_base64_encoded);
        }
        // Only the two API Gateway shapes are compiled in (the crate's features).
        _ => {}
    }
}

/// Drops a `host` that is not a host and an `x-forwarded-proto` that is not http(s).
fn headers(headers: &mut HeaderMap) {
    let host_ok = headers
        .get(HOST)
        .is_none_or(|value| value.to_str().is_ok_and(is_host));
    if !host_ok {
        headers.remove(HOST);
    }
    let proto_ok = headers
        .get(FORWARDED_PROTO)
        .is_none_or(|value| matches!(value.as_bytes(), b"http" | b"https"));
    if !proto_ok {
        headers.remove(FORWARDED_PROTO);
    }
}

fn host(domain_name: &mut Option<String>) {
    if domain_name.as_deref().is_some_and(|name| !is_host(name)) {
        *domain_name = None;
    }
}

/// A host (and port) that the URL parser lambda_http uses accepts.
fn is_host(host: &str) -> bool {
    (1..=253 + 6).contains(&host.len())
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b))
        && url::Url::parse(&format!("https://{host}/")).is_ok()
}

/// A stage name too long to be one is dropped (no stage prefix on the path).
fn stage(stage: &mut Option<String>) {
    if let Some(name) = stage {
        encode_outside(name, |b| b != b'/' && is_path_byte(b));
        if name.len() > MAX_STAGE {
            *stage = None;
        }
    }
}

/// A path too long to be one becomes `/` (which no route answers).
fn path(path: &mut Option<String>) {
    if let Some(path) = path {
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        encode_outside(path, is_path_byte);
        if path.len() > MAX_PATH_OR_QUERY {
            *path = "/".to_owned();
        }
    }
}

/// A body flagged base64 that does not decode is dropped: the handler then sees no body. One
/// that does is re-encoded canonically, so any base64 reader takes it.
fn body(body: &mut Option<String>, is_base64: &mut bool) {
    if !*is_base64 {
        return;
    }
    match body.as_deref().map(|b| STANDARD.decode(b)) {
        None => {}
        Some(Ok(bytes)) => *body = Some(STANDARD.encode(bytes)),
        Some(Err(_)) => {
            *body = None;
            *is_base64 = false;
        }
    }
}

/// RFC 3986 `pchar` and `/`, plus `%` (escapes are passed on as they are).
fn is_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b)
}

/// RFC 3986 `query`: a path byte or `?`.
fn is_query_byte(b: u8) -> bool {
    b == b'?' || is_path_byte(b)
}

/// Percent-encodes every byte `keep` refuses; leaves the string untouched when all pass.
fn encode_outside(text: &mut String, keep: fn(u8) -> bool) {
    if text.bytes().all(keep) {
        return;
    }
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if keep(b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    *text = out;
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn try_v2(edit: impl FnOnce(&mut serde_json::Value)) -> Option<LambdaRequest> {
        let mut event: serde_json::Value =
            serde_json::from_str(include_str!("../tests/data/apigw_v2_request.json")).unwrap();
        edit(&mut event);
        serde_json::from_value(event).ok()
    }

    fn v2(edit: impl FnOnce(&mut serde_json::Value)) -> LambdaRequest {
        try_v2(edit).unwrap()
    }

    /// Any text, or text made of the bytes URLs care about.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![".{0,24}", "[a-zA-Z0-9.:/?#%@\\\\\\[\\] \"<>^`{|}-]{0,24}"]
    }

    /// [`text`], now and then repeated past what a URI can hold.
    fn long_text() -> impl Strategy<Value = String> {
        (
            text(),
            prop_oneof![4 => Just(1_usize), 1 => Just(4_000_usize)],
        )
            .prop_map(|(text, times)| text.repeat(times))
    }

    proptest! {
        #[test]
        fn every_event_the_runtime_accepts_converts_without_panicking(
            host in text(), domain in text(), proto in text(), stage in text(),
            path in long_text(), query in long_text(), body in text(), base64 in any::<bool>(),
        ) {
            let request = try_v2(|e| {
                e["headers"]["host"] = host.into();
                e["headers"]["x-forwarded-proto"] = proto.into();
                e["requestContext"]["domainName"] = domain.into();
                e["requestContext"]["stage"] = stage.into();
                e["rawPath"] = path.into();
                e["rawQueryString"] = query.into();
                e["body"] = body.into();
                e["isBase64Encoded"] = base64.into();
            });
            if let Some(request) = request {
                let _ = converted(request);
            }
        }
    }

    fn converted(mut request: LambdaRequest) -> lambda_http::Request {
        sanitize(&mut request);
        request.into()
    }

    #[test]
    fn api_gateway_events_are_left_as_they_are() {
        let before = format!("{:?}", v2(|_| {}));
        let mut request = v2(|_| {});
        sanitize(&mut request);
        assert_eq!(format!("{request:?}"), before);
    }

    #[test]
    fn a_host_that_is_not_a_host_is_dropped() {
        for bad in [
            "1.2.3.999",
            "host:99999",
            "exämple.com",
            "a b",
            "exa mple.com",
            "",
            "host/path",
            "[::1",
        ] {
            let request = converted(v2(|e| {
                e["headers"]["host"] = bad.into();
                e["requestContext"]["domainName"] = bad.into();
            }));
            assert!(request.headers().get(HOST).is_none(), "{bad}");
            assert_eq!(request.uri().host(), None, "{bad}");
        }
        let request = converted(v2(|e| e["headers"]["host"] = "api.example.com:8443".into()));
        assert_eq!(request.uri().authority().unwrap(), "api.example.com:8443");
    }

    #[test]
    fn only_http_and_https_are_forwarded_protocols() {
        for (proto, scheme) in [
            ("http", "http"),
            ("https", "https"),
            ("a b", "https"),
            ("ftp:", "https"),
        ] {
            let request = converted(v2(|e| e["headers"]["x-forwarded-proto"] = proto.into()));
            assert_eq!(request.uri().scheme_str(), Some(scheme), "{proto}");
        }
    }

    #[test]
    fn paths_stages_and_queries_are_percent_encoded_where_a_uri_needs_it() {
        let request = converted(v2(|e| {
            e["rawPath"] = "me#frag ment/é".into();
            e["requestContext"]["stage"] = "st/a ge".into();
            e["rawQueryString"] = "a=1 2&b=\"x\"#y".into();
        }));
        assert_eq!(request.uri().path(), "/st%2Fa%20ge/me%23frag%20ment/%C3%A9");
        assert_eq!(request.uri().query(), Some("a=1%202&b=%22x%22%23y"));
    }

    #[test]
    fn what_is_too_long_for_a_uri_is_cut_to_what_no_route_answers() {
        let long = "a".repeat(70_000);
        let request = converted(v2(|e| {
            e["rawPath"] = format!("/{long}").into();
            e["rawQueryString"] = long.clone().into();
            e["requestContext"]["stage"] = long.clone().into();
            e["headers"]["host"] = long.clone().into();
        }));
        assert_eq!(request.uri().path(), "/");
        assert_eq!(request.uri().query(), None);
        let spaces = " ".repeat(10_000);
        let request = converted(v2(|e| e["rawPath"] = format!("/me{spaces}").into()));
        assert_eq!(request.uri().path(), "/");
    }

    #[test]
    fn rest_events_are_sanitized_the_same_way() {
        let mut event: serde_json::Value =
            serde_json::from_str(include_str!("../tests/data/apigw_rest_request.json")).unwrap();
        event["headers"]["Host"] = "a b".into();
        event["multiValueHeaders"]["Host"] = serde_json::json!(["a b"]);
        event["requestContext"]["domainName"] = "a b".into();
        event["headers"]["X-Forwarded-Proto"] = "gopher".into();
        event["path"] = "/me here".into();
        event["queryStringParameters"] = serde_json::json!({ "q": "é".repeat(9_000) });
        event["multiValueQueryStringParameters"] = serde_json::json!({ "q": ["é".repeat(9_000)] });
        let request = converted(serde_json::from_value(event).unwrap());
        assert!(request.headers().get(HOST).is_none());
        assert_eq!(request.uri().host(), None);
        assert!(
            request.uri().path().ends_with("/me%20here"),
            "{}",
            request.uri()
        );
        assert_eq!(request.uri().query(), None);
    }

    #[test]
    fn the_url_parser_has_no_unicode_tables() {
        // Cargo.lock pins idna_adapter 1.0.0; an update that drops the pin fails here.
        assert!(url::Url::parse("https://bücher.example/").is_err());
        assert!(url::Url::parse("https://xn--bcher-kva.example/").is_ok());
    }

    #[test]
    fn a_body_flagged_base64_that_is_not_is_dropped() {
        let request = converted(v2(|e| {
            e["body"] = "not base64!".into();
            e["isBase64Encoded"] = true.into();
        }));
        assert!(request.body().is_empty());
        let request = converted(v2(|e| {
            e["body"] = "e30=".into();
            e["isBase64Encoded"] = true.into();
        }));
        assert_eq!(request.body().as_ref(), b"{}");
    }
}
