//! RSA test keys that mint Clerk-shaped tokens (and forge any other).

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

/// An RSA-2048 signing key with a `kid`.
pub struct TestKey {
    pub kid: String,
    pair: KeyPair,
}

impl TestKey {
    /// A fresh key (takes tens of milliseconds: generate once per test binary where you can).
    pub fn generate(kid: &str) -> Self {
        Self {
            kid: kid.to_owned(),
            pair: KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation"),
        }
    }

    /// A key from a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pkcs8_pem(kid: &str, pem: &str) -> Self {
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let der = STANDARD.decode(body.trim()).expect("PEM body is base64");
        Self {
            kid: kid.to_owned(),
            pair: KeyPair::from_pkcs8(&der).expect("PKCS#8 RSA key"),
        }
    }

    /// The private key as PKCS#8 PEM.
    pub fn private_pem(&self) -> String {
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&self.pair).unwrap();
        pem("PRIVATE KEY", der.as_ref())
    }

    /// The public key as SPKI PEM (what `CLERK_JWT_KEY` holds).
    pub fn public_pem(&self) -> String {
        let der = self.pair.public_key().as_der().unwrap();
        pem("PUBLIC KEY", der.as_ref())
    }

    /// The public key as a JWK, shaped like Clerk's.
    pub fn jwk(&self) -> Value {
        let public = self.pair.public_key();
        json!({
            "use": "sig",
            "kty": "RSA",
            "kid": self.kid,
            "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        })
    }

    /// The RS256 signature of `message`.
    pub fn sign_bytes(&self, message: &[u8]) -> Vec<u8> {
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                message,
                &mut signature,
            )
            .unwrap();
        signature
    }

    /// A compact JWS of these exact header and claims (anything goes: tests forge freely).
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.sign_bytes(input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// The header Clerk puts on session tokens, with this key's `kid`.
    pub fn session_header(&self) -> Value {
        json!({ "alg": "RS256", "cat": shared::token::CATEGORY_SESSION, "kid": self.kid, "typ": "JWT" })
    }

    /// A session token for `sub`, issued by `issuer` at `now` and valid for 60 s, as Clerk
    /// mints them (v2 claims).
    pub fn session_token(&self, issuer: &str, sub: &str, now: i64) -> String {
        self.sign(&self.session_header(), &session_claims(issuer, sub, now))
    }
}

/// The claims of a v2 Clerk session token issued at `now`.
pub fn session_claims(issuer: &str, sub: &str, now: i64) -> Value {
    json!({
        "azp": "http://localhost:5173",
        "exp": now + 60,
        "fva": [0, -1],
        "iat": now,
        "iss": issuer,
        "nbf": now - 10,
        "sid": "sess_test",
        "sts": "active",
        "sub": sub,
        "v": 2,
    })
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}
