//! The one piece of DER this crate reads: a PKCS#1 `RSAPublicKey`, to learn a PEM key's
//! modulus size (jsonwebtoken reads the PEM but does not say how long the key is).

/// The big-endian modulus and exponent of a DER `RSAPublicKey ::= SEQUENCE { modulus
/// INTEGER, publicExponent INTEGER }`, or `None` for anything else.
pub(crate) fn rsa_public_key(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (body, rest) = element(der, SEQUENCE)?;
    let (n, body) = element(body, INTEGER)?;
    let (e, body) = element(body, INTEGER)?;
    (rest.is_empty() && body.is_empty()).then_some((n, e))
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;

/// The contents of the element with `tag` at the start of `input`, and what follows it.
fn element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, rest) = input.split_first()?;
    if found != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        // Long form: the low bits count the length bytes (4 cover any key we accept).
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let len = bytes
            .iter()
            .fold(0usize, |len, &b| (len << 8) | usize::from(b));
        (len, rest)
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_short_and_long_form_lengths() {
        // SEQUENCE { INTEGER 0x00 0xc5 (2 bytes), INTEGER 0x01 0x00 0x01 }
        let der = [
            0x30, 0x09, 0x02, 0x02, 0x00, 0xc5, 0x02, 0x03, 0x01, 0x00, 0x01,
        ];
        assert_eq!(
            rsa_public_key(&der),
            Some((&[0x00, 0xc5][..], &[0x01, 0x00, 0x01][..]))
        );
        let mut long = vec![0x30, 0x82, 0x01, 0x0a, 0x02, 0x82, 0x01, 0x01];
        long.extend([0xab; 257]);
        long.extend([0x02, 0x03, 0x01, 0x00, 0x01]);
        let (n, e) = rsa_public_key(&long).unwrap();
        assert_eq!((n.len(), e), (257, &[0x01, 0x00, 0x01][..]));
    }

    #[test]
    fn refuses_anything_else() {
        let cases: [&[u8]; 7] = [
            &[],
            &[0x31, 0x00],                                           // a SET
            &[0x30, 0x05, 0x02, 0x01, 0x05],                         // length past the end
            &[0x30, 0x03, 0x02, 0x01, 0x05],                         // one INTEGER only
            &[0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x03, 0x00], // trailing byte
            &[0x30, 0x80, 0x02, 0x01, 0x05],                         // indefinite length
            &[0x30, 0x85, 0, 0, 0, 0, 0],                            // 5 length bytes
        ];
        for der in cases {
            assert_eq!(rsa_public_key(der), None, "{der:02x?}");
        }
    }
}
