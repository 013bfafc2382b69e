//! Finding the session token in a request: `Authorization: Bearer`, else the `__session`
//! cookie that Clerk sets on same-site setups.

/// The token of an `Authorization` header value; `None` for any scheme but Bearer
/// (compared case-insensitively, as RFC 9110 says) or an empty token.
pub fn bearer(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The `__session` value of a `Cookie` header.
pub fn session_cookie(cookie_header: &str) -> Option<&str> {
    cookie_header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        let value = value.trim().trim_matches('"');
        (name.trim() == "__session" && !value.is_empty()).then_some(value)
    })
}

/// The token of a request: the bearer token if there is one, else the `__session` cookie
/// from any of `cookie_headers`.
pub fn token_from<'a>(
    authorization: Option<&'a str>,
    cookie_headers: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    authorization
        .and_then(bearer)
        .or_else(|| cookie_headers.into_iter().find_map(session_cookie))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for header in ["Bearer abc", "bearer abc", "BEARER   abc ", " Bearer abc"] {
            assert_eq!(bearer(header), Some("abc"), "{header:?}");
        }
    }

    #[test]
    fn other_schemes_and_empty_tokens_are_no_token() {
        for header in [
            "Basic abc",
            "Token abc",
            "Bearer",
            "Bearer  ",
            "abc",
            "",
            "Bearerabc",
        ] {
            assert_eq!(bearer(header), None, "{header:?}");
        }
    }

    #[test]
    fn session_cookie_among_others() {
        assert_eq!(session_cookie("a=1; __session=tok; b=2"), Some("tok"));
        assert_eq!(session_cookie("__session=\"tok\""), Some("tok"));
        assert_eq!(session_cookie("__session_abc=x; __client_uat=1"), None);
        assert_eq!(session_cookie("__session="), None);
        assert_eq!(session_cookie("garbage"), None);
    }

    #[test]
    fn bearer_wins_over_cookie_and_cookie_is_the_fallback() {
        assert_eq!(token_from(Some("Bearer b"), ["__session=c"]), Some("b"));
        assert_eq!(token_from(Some("Basic x"), ["__session=c"]), Some("c"));
        assert_eq!(token_from(None, ["x=1", "__session=c"]), Some("c"));
        assert_eq!(token_from(None, []), None);
    }
}
