//! `recognize` against Clerk's own vectors: `tokens/__tests__/machine.test.ts` and the
//! tokens of `fixtures/machine.ts` and `fixtures/index.ts` (clerk/javascript e21ae9a).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use testkit::clerk_fixtures::{OAUTH_JWT, OAUTH_JWT_APPLICATION_TYP};

use super::*;

/// `mockTokens` (`fixtures/machine.ts`).
const API_KEY: &str = "ak_LCWGdaM8mv8K4PC/57IICZQXAeWfCgF30DZaFXHoGn9=";
const OAUTH_TOKEN: &str = "oat_8XOIucKvqHVr5tYP123456789abcdefghij";
const M2M_TOKEN: &str = "mt_8XOIucKvqHVr5tYP123456789abcdefghij";

/// `mockJwt` (`fixtures/index.ts`): a session token.
const SESSION_JWT: [&str; 9] = [
    "eyJhbGciOiJSUzI1NiIsImtpZCI6Imluc18yR0lvUWhiVXB5MGhYN0IyY1ZrdVRNaW5Yb0QiLCJ0eXAiOiJKV1QifQ",
    ".eyJhenAiOiJodHRwczovL2FjY291bnRzLmluc3BpcmVkLnB1bWEtNzQubGNsLmRldiIsImV4cCI6MTY2NjY0ODMxM",
    "CwiaWF0IjoxNjY2NjQ4MjUwLCJpc3MiOiJodHRwczovL2NsZXJrLmluc3BpcmVkLnB1bWEtNzQubGNsLmRldiIsIm5",
    "iZiI6MTY2NjY0ODI0MCwic2lkIjoic2Vzc18yR2JEQjRlbk5kQ2E1dlMxenBDM1h6Zzl0SzkiLCJzdWIiOiJ1c2VyX",
    "zJHSXBYT0VwVnlKdzUxcmtabjlLbW5jNlN4ciJ9.j3rB92k32WqbQDkFB093H4GoQsBVLH4HLGF6ObcwUaVGiHC8SE",
    "u6T31FuPf257SL8A5sSGtWWM1fqhQpdLohgZb_hbJswGBuYI-Clxl9BtpIRHbWFZkLBIj8yS9W9aVtD3fWBbF6PHx7",
    "BY1udio-rbGWg1YAOZNtVcxF02p-MvX-8XIK92Vwu3Un5zyfCoVIg__qo3Xntzw3tznsZ4XDe212c6kVz1R_L1d5DK",
    "jeWXpjUPAS_zFeZSIJEQLf4JNr4JCY38tfdnc3ajfDA3p36saf1XwmTdWXQKCXi75c2TJAXROs3Pgqr5Kw_5clygoF",
    "uxN5OEMhFWFSnvIBdi3M6w",
];

/// `createJwt` as the tests use it: a dummy signature over any header and payload.
fn jwt(header: Value, payload: Value) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.c2lnbmF0dXJl", part(&header), part(&payload))
}

#[test]
fn opaque_tokens_by_prefix() {
    assert_eq!(recognize(API_KEY), (TokenType::ApiKey, Some(Form::Opaque)));
    assert_eq!(
        recognize(OAUTH_TOKEN),
        (TokenType::OAuthToken, Some(Form::Opaque))
    );
    assert_eq!(
        recognize(M2M_TOKEN),
        (TokenType::M2mToken, Some(Form::Opaque))
    );
    for (token, kind) in [
        ("mt_opaque_token", TokenType::M2mToken),
        ("oat_opaque_token", TokenType::OAuthToken),
        ("ak_opaque_token", TokenType::ApiKey),
    ] {
        assert_eq!(recognize(token), (kind, Some(Form::Opaque)), "{token}");
    }
}

#[test]
fn prefixes_are_case_sensitive_and_only_clerks() {
    // `getMachineTokenType` throws on these: no machine token, so a session token here.
    for token in [
        "M2M_token_value",
        "OAUTH_token_value",
        "API_KEY_value",
        "unknown_prefix_token",
        "session_token_value",
        "jwt_token_value",
        "m2m_legacy_prefix",
        "",
    ] {
        assert_eq!(
            recognize(token),
            (TokenType::SessionToken, None),
            "{token:?}"
        );
    }
}

#[test]
fn clerks_signed_oauth_jwts_are_oauth_tokens() {
    for token in [OAUTH_JWT.concat(), OAUTH_JWT_APPLICATION_TYP.concat()] {
        assert_eq!(recognize(&token), (TokenType::OAuthToken, Some(Form::Jwt)));
    }
    assert_eq!(
        recognize(&SESSION_JWT.concat()),
        (TokenType::SessionToken, None)
    );
}

#[test]
fn jwts_by_typ_and_subject() {
    let header = |typ: &str| json!({ "alg": "RS256", "kid": "ins_1", "typ": typ });
    let user = json!({ "sub": "user_2vYVtestTESTtestTESTtestTESTtest", "sid": "sess_1" });
    let machine = json!({ "sub": "mch_2vYVtestTESTtestTESTtestTESTtest" });
    let cases = [
        (
            jwt(header("at+jwt"), user.clone()),
            (TokenType::OAuthToken, Some(Form::Jwt)),
        ),
        (
            jwt(header("application/at+jwt"), user.clone()),
            (TokenType::OAuthToken, Some(Form::Jwt)),
        ),
        (
            jwt(header("JWT"), user.clone()),
            (TokenType::SessionToken, None),
        ),
        (
            jwt(header("JWT"), machine.clone()),
            (TokenType::M2mToken, Some(Form::Jwt)),
        ),
        // The subject decides before the type: Clerk checks M2M first.
        (
            jwt(header("at+jwt"), machine.clone()),
            (TokenType::M2mToken, Some(Form::Jwt)),
        ),
        (
            jwt(json!({ "alg": "RS256" }), machine),
            (TokenType::M2mToken, Some(Form::Jwt)),
        ),
        // `typ` compares exactly, as `Array.includes` does.
        (
            jwt(header("AT+JWT"), user.clone()),
            (TokenType::SessionToken, None),
        ),
        (
            jwt(header("at+jwt "), user.clone()),
            (TokenType::SessionToken, None),
        ),
        (
            jwt(json!({ "typ": ["at+jwt"] }), user.clone()),
            (TokenType::SessionToken, None),
        ),
        (
            jwt(header("JWT"), json!({ "sub": 7 })),
            (TokenType::SessionToken, None),
        ),
        (
            jwt(header("JWT"), json!({ "sub": "MCH_x" })),
            (TokenType::SessionToken, None),
        ),
        // A payload that is no object carries no subject (`payload.sub` is undefined).
        (
            jwt(header("JWT"), json!(["mch_x"])),
            (TokenType::SessionToken, None),
        ),
        (
            jwt(header("at+jwt"), json!(["mch_x"])),
            (TokenType::OAuthToken, Some(Form::Jwt)),
        ),
    ];
    for (token, want) in cases {
        assert_eq!(recognize(&token), want, "{token}");
    }
}

#[test]
fn only_jwt_shaped_tokens_are_read_as_jwts() {
    let m2m = jwt(json!({ "typ": "JWT" }), json!({ "sub": "mch_x" }));
    let (header, rest) = m2m.split_once('.').unwrap();
    let cases = [
        // `JwtFormatRegExp`: three non-empty base64url segments, nothing else.
        format!("{m2m}.d"),
        format!("{header}..sig"),
        format!("{m2m}="),
        format!("{header}.{rest}").replace("c2lnbmF0dXJl", ""),
        format!(" {m2m}"),
        // `isOAuthJwt('not.a.jwt')`: the shape is right, the segments do not decode.
        "not.a.jwt".to_owned(),
        "invalid.jwt".to_owned(),
    ];
    for token in cases {
        assert_eq!(
            recognize(&token),
            (TokenType::SessionToken, None),
            "{token}"
        );
    }
    assert_eq!(recognize(&m2m), (TokenType::M2mToken, Some(Form::Jwt)));
    // An opaque prefix is checked first for M2M: `mt_` with JWT dots is still opaque.
    assert_eq!(
        recognize("mt_a.b.c"),
        (TokenType::M2mToken, Some(Form::Opaque))
    );
}

#[test]
fn names_are_clerks() {
    for kind in TokenType::ALL {
        assert_eq!(TokenType::parse(kind.as_str()), Ok(kind));
    }
    assert_eq!(
        TokenType::parse("Session_Token"),
        Err(TypeError("Session_Token".into()))
    );
    assert!(TokenType::parse("any").is_err());
    assert!(!TokenType::SessionToken.is_machine());
    assert!(TokenType::ApiKey.is_machine());
}
