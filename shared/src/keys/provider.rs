//! jsonwebtoken's crypto, with RS256 keys parsed once when they are loaded.
//!
//! jsonwebtoken's own aws-lc-rs provider rebuilds the RSA key from `n` and `e` on every
//! signature it checks (BENCHMARKS.md has what that costs). Its provider hooks
//! are plain functions, so the keys this module parses live in a process-wide registry:
//! entries are found by the key's own bytes, so a lookup can only ever return the key for
//! exactly that `n` and `e`, and an entry no loaded key holds any more is dropped. Anything
//! else (another algorithm, a key not loaded here) goes to jsonwebtoken's own provider.
//!
//! A warm instance verifies token after token with the same key or two, so each thread
//! remembers the entry it used last and finds it again without the registry's lock.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, MutexGuard, Once, PoisonError, Weak};

use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use jsonwebtoken::crypto::{CryptoProvider, JwtVerifier, KeyUtils, aws_lc};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};

/// aws-lc-rs's provider, except for RS256 on keys parsed by [`parse_rs256`].
static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: aws_lc::DEFAULT_PROVIDER.signer_factory,
    verifier_factory,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key: DEFAULT_KEY_UTILS.rsa_pub_components_from_private_key,
        rsa_pub_components_from_public_key: DEFAULT_KEY_UTILS.rsa_pub_components_from_public_key,
        ec_pub_components_from_private_key: DEFAULT_KEY_UTILS.ec_pub_components_from_private_key,
        ed_pub_components_from_private_key: DEFAULT_KEY_UTILS.ed_pub_components_from_private_key,
        compute_digest: DEFAULT_KEY_UTILS.compute_digest,
    },
};

static DEFAULT_KEY_UTILS: &KeyUtils = &aws_lc::DEFAULT_PROVIDER.key_utils;

/// One parsed key, found by its components.
#[derive(Clone)]
struct Entry {
    n: Box<[u8]>,
    e: Box<[u8]>,
    key: Weak<ParsedPublicKey>,
}

static PARSED: Mutex<Vec<Entry>> = Mutex::new(Vec::new());

fn registry() -> MutexGuard<'static, Vec<Entry>> {
    // The list is consistent after every statement, so a panic elsewhere cannot spoil it.
    PARSED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Makes this module's provider jsonwebtoken's default for the process; idempotent.
///
/// It must run before jsonwebtoken first signs or verifies anything, which otherwise fixes
/// its own provider as the default: loading a key calls it, and so must code that uses
/// jsonwebtoken before any key is loaded.
pub fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        if PROVIDER.install_default().is_err() {
            tracing::warn!(
                "another jsonwebtoken crypto provider was installed first: \
                 RS256 keys will be parsed on every verification"
            );
        }
    });
}

/// Parses a key for RS256 and registers it for verification.
/// The registration lasts as long as the returned key is held.
pub(super) fn parse_rs256(n: &[u8], e: &[u8]) -> Option<Arc<ParsedPublicKey>> {
    install_crypto_provider();
    let parsed = RsaPublicKeyComponents { n, e }
        .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
        .ok()?;
    let parsed = Arc::new(parsed);
    let mut entries = registry();
    entries.retain(|entry| entry.key.strong_count() > 0);
    entries.push(Entry {
        n: n.into(),
        e: e.into(),
        key: Arc::downgrade(&parsed),
    });
    Some(parsed)
}

impl Entry {
    fn holds(&self, n: &[u8], e: &[u8]) -> Option<Arc<ParsedPublicKey>> {
        (*self.n == *n && *self.e == *e)
            .then(|| self.key.upgrade())
            .flatten()
    }
}

thread_local! {
    /// The entry this thread found last (weak, like the registry's: it keeps no key alive).
    static LAST: RefCell<Option<Entry>> = const { RefCell::new(None) };
}

/// The registered key with exactly these components, if one is still held.
fn lookup(n: &[u8], e: &[u8]) -> Option<Arc<ParsedPublicKey>> {
    let last = LAST.with_borrow(|last| last.as_ref().and_then(|entry| entry.holds(n, e)));
    if last.is_some() {
        return last;
    }
    let (entry, key) = registry()
        .iter()
        .find_map(|entry| Some((entry, entry.holds(n, e)?)))
        .map(|(entry, key)| (entry.clone(), key))?;
    LAST.set(Some(entry));
    Some(key)
}

fn verifier_factory(
    algorithm: &Algorithm,
    key: &DecodingKey,
) -> jsonwebtoken::errors::Result<Box<dyn JwtVerifier>> {
    if *algorithm == Algorithm::RS256
        && let DecodingKeyKind::RsaModulusExponent { n, e } = key.kind()
        && let Some(parsed) = lookup(n, e)
    {
        return Ok(Box::new(Rs256(parsed)));
    }
    (aws_lc::DEFAULT_PROVIDER.verifier_factory)(algorithm, key)
}

/// RS256 (PKCS#1 v1.5, SHA-256) on a parsed key.
struct Rs256(Arc<ParsedPublicKey>);

impl signature::Verifier<Vec<u8>> for Rs256 {
    fn verify(&self, message: &[u8], signature: &Vec<u8>) -> Result<(), signature::Error> {
        self.0
            .verify_sig(message, signature)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Rs256 {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    fn components(pair: &KeyPair) -> (Vec<u8>, Vec<u8>) {
        let public = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        (public.n, public.e)
    }

    fn sign(pair: &KeyPair, message: &[u8]) -> String {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let mut signature = vec![0; pair.public_modulus_len()];
        pair.sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)
            .unwrap();
        URL_SAFE_NO_PAD.encode(signature)
    }

    #[test]
    fn loading_a_key_installs_the_provider() {
        let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let (n, e) = components(&pair);
        let _key = parse_rs256(&n, &e).unwrap();
        let installed = PROVIDER.install_default().unwrap_err();
        assert!(std::ptr::eq(installed, &PROVIDER));
    }

    #[test]
    fn a_key_is_found_by_its_components_while_it_is_held() {
        let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let (n, e) = components(&pair);
        assert!(lookup(&n, &e).is_none());
        let key = parse_rs256(&n, &e).unwrap();
        let found = lookup(&n, &e).unwrap();
        assert!(Arc::ptr_eq(&found, &key));
        // Same modulus, another exponent: another key.
        assert!(lookup(&n, &[1, 0, 0, 1]).is_none());
        drop((found, key));
        assert!(lookup(&n, &e).is_none());
    }

    #[test]
    fn alternating_keys_are_each_found_as_themselves() {
        // Two keys held at once (a rotation's overlap): the thread's last entry must never
        // answer for the other one.
        let pairs = [0, 1].map(|_| KeyPair::generate(KeySize::Rsa2048).unwrap());
        let [(n0, e0), (n1, e1)] = [components(&pairs[0]), components(&pairs[1])];
        let keys = [
            parse_rs256(&n0, &e0).unwrap(),
            parse_rs256(&n1, &e1).unwrap(),
        ];
        for round in 0..4 {
            let (n, e, want) = if round % 2 == 0 {
                (&n0, &e0, &keys[0])
            } else {
                (&n1, &e1, &keys[1])
            };
            assert!(Arc::ptr_eq(&lookup(n, e).unwrap(), want), "round {round}");
        }
        // The key last found dropped: neither the thread's entry nor the registry has it.
        let [first, second] = keys;
        drop(second);
        assert!(lookup(&n1, &e1).is_none());
        assert!(Arc::ptr_eq(&lookup(&n0, &e0).unwrap(), &first));
    }

    #[test]
    fn jsonwebtoken_verifies_with_the_parsed_key_and_refuses_a_forgery() {
        let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let (n, e) = components(&pair);
        let _key = parse_rs256(&n, &e).unwrap();
        let decoding = DecodingKey::from_rsa_raw_components(&n, &e);
        let message = b"header.claims";
        let signature = sign(&pair, message);
        let verify = |message: &[u8], signature: &str| {
            jsonwebtoken::crypto::verify(signature, message, &decoding, Algorithm::RS256)
        };
        assert!(verify(message, &signature).unwrap());
        assert!(!verify(b"header.claimz", &signature).unwrap());
        let other = KeyPair::generate(KeySize::Rsa2048).unwrap();
        assert!(!verify(message, &sign(&other, message)).unwrap());
    }

    #[test]
    fn components_aws_lc_cannot_build_are_not_a_key() {
        // aws-lc defers its size and exponent checks to verification (`keys` bounds them
        // before parsing); what it cannot build at all is refused here.
        assert!(parse_rs256(&[], &[1, 0, 1]).is_none());
    }
}
