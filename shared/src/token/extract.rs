//! Finding the session token in a request: the `Authorization: Bearer <token>` header, and
//! nothing else.
//!
//! API Gateway caches an authorizer's answer under its identity sources (the template's:
//! the `Authorization` header), so a decision may depend on nothing else in the request. A
//! cookie read beside that header would let one caller's cached allow serve every caller
//! who sends the same header. So a present header is the only token source, and a header
//! that is not exactly `Bearer <token>` is refused, never passed over.

use super::Rejection;

/// The token of an `Authorization` header value; `None` for any scheme but Bearer
/// (compared case-insensitively, as RFC 9110 says) or an empty token.
pub fn bearer(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The token of a request's `Authorization` header values (raw bytes, as received).
///
/// No header (or an empty one) is [`Rejection::TokenMissing`]; several headers, bytes that
/// are not visible ASCII, or anything but `Bearer <token>` is
/// [`Rejection::AuthorizationInvalid`].
pub fn from_authorization<'a>(
    mut values: impl Iterator<Item = &'a [u8]>,
) -> Result<&'a str, Rejection> {
    let Some(first) = values.next() else {
        return Err(Rejection::TokenMissing);
    };
    if values.next().is_some() {
        return Err(Rejection::AuthorizationInvalid);
    }
    if first.iter().all(u8::is_ascii_whitespace) {
        return Err(Rejection::TokenMissing);
    }
    let text = std::str::from_utf8(first).map_err(|_| Rejection::AuthorizationInvalid)?;
    if !text
        .bytes()
        .all(|b| b == b' ' || b == b'\t' || b.is_ascii_graphic())
    {
        return Err(Rejection::AuthorizationInvalid);
    }
    bearer(text).ok_or(Rejection::AuthorizationInvalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: &str) -> Result<&str, Rejection> {
        from_authorization(std::iter::once(value.as_bytes()))
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for header in ["Bearer abc", "bearer abc", "BEARER   abc ", " Bearer abc"] {
            assert_eq!(bearer(header), Some("abc"), "{header:?}");
            assert_eq!(one(header), Ok("abc"), "{header:?}");
        }
    }

    #[test]
    fn other_schemes_and_empty_tokens_are_refused_not_absent() {
        for header in [
            "Basic abc",
            "Token abc",
            "Bearer",
            "Bearer  ",
            "abc",
            "Bearerabc",
        ] {
            assert_eq!(bearer(header), None, "{header:?}");
            assert_eq!(
                one(header),
                Err(Rejection::AuthorizationInvalid),
                "{header:?}"
            );
        }
    }

    #[test]
    fn no_header_or_an_empty_one_is_missing() {
        assert_eq!(
            from_authorization(std::iter::empty()),
            Err(Rejection::TokenMissing)
        );
        assert_eq!(one(""), Err(Rejection::TokenMissing));
        assert_eq!(one("  "), Err(Rejection::TokenMissing));
    }

    #[test]
    fn non_ascii_and_repeated_headers_are_refused() {
        let latin1: &[u8] = b"Bearer garbage\xff";
        assert_eq!(
            from_authorization(std::iter::once(latin1)),
            Err(Rejection::AuthorizationInvalid)
        );
        assert_eq!(
            one("Bearer abc\u{ff}"),
            Err(Rejection::AuthorizationInvalid)
        );
        assert_eq!(one("Bearer a\u{0}b"), Err(Rejection::AuthorizationInvalid));
        let two: [&[u8]; 2] = [b"Bearer a", b"Bearer b"];
        assert_eq!(
            from_authorization(two.into_iter()),
            Err(Rejection::AuthorizationInvalid)
        );
    }
}
