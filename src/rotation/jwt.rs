//! HS256 JSON Web Tokens (RFC 7519), the only kind a rotation makes: base64url of the
//! header, of the claims, and of their HMAC-SHA256 under the signing secret. Made here from
//! `hmac`, `sha2` and `base64` because a JWT library brings RSA and elliptic-curve code
//! (and their advisories) along for algorithms vault never uses.

use age::secrecy::SecretString;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header of every token, byte for byte what vault wrote before (with `jsonwebtoken`):
/// readers that compare headers, or pin `typ`, see no change.
const HEADER: &[u8] = br#"{"typ":"JWT","alg":"HS256"}"#;

/// Base64url (no padding) of a 32-byte HMAC-SHA256 tag.
const SIGNATURE_LEN: usize = 43;

/// `claims` as an HS256 JWT signed with `key` (the signing secret's bytes).
pub fn sign_hs256(claims: &serde_json::Map<String, serde_json::Value>, key: &[u8]) -> SecretString {
    // A map of strings to JSON values always serializes.
    let claims = serde_json::Value::Object(claims.clone()).to_string();
    sign(HEADER, claims.as_bytes(), key)
}

/// The JWS compact serialization of `header` and `claims` (their JSON text) under
/// HMAC-SHA256 with `key`.
fn sign(header: &[u8], claims: &[u8], key: &[u8]) -> SecretString {
    let encoded_len = |n: usize| n.div_ceil(3) * 4 - (3 - n % 3) % 3;
    // Sized exactly, so the token (a bearer credential) is never left behind in a buffer
    // that a growing string reallocated.
    let mut token = String::with_capacity(
        encoded_len(header.len()) + encoded_len(claims.len()) + 2 + SIGNATURE_LEN,
    );
    URL_SAFE_NO_PAD.encode_string(header, &mut token);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(claims, &mut token);
    // HMAC takes a key of any length (a longer one is hashed first): this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of every length");
    mac.update(token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(mac.finalize().into_bytes(), &mut token);
    debug_assert_eq!(token.len(), token.capacity());
    SecretString::from(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    /// RFC 7515, appendix A.1: the HS256 example, header and claims as given there.
    #[test]
    fn the_rfc_7515_example_signs_as_published() {
        let header = b"{\"typ\":\"JWT\",\r\n \"alg\":\"HS256\"}";
        let claims =
            b"{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}";
        let key = URL_SAFE_NO_PAD
            .decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
            .unwrap();
        assert_eq!(
            sign(header, claims, &key).expose_secret(),
            "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9\
             .eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ\
             .dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        );
    }

    /// The header is the one vault always wrote, the claims are the JSON of the map, and the
    /// string is exactly as long as it was sized, for every length of claims (each base64
    /// remainder) and of key (empty, short, longer than SHA-256's block).
    #[test]
    fn a_token_is_header_claims_and_signature_in_base64url() {
        for key in [&b""[..], b"k", &[7u8; 65]] {
            for filler in ["", "a", "ab", "abc"] {
                let mut claims = serde_json::Map::new();
                claims.insert("role".into(), "anon".into());
                claims.insert("x".into(), filler.into());
                claims.insert("iat".into(), 1_700_000_000u64.into());
                let token = sign_hs256(&claims, key);
                let parts: Vec<&str> = token.expose_secret().split('.').collect();
                assert_eq!(parts.len(), 3);
                assert_eq!(parts[0], "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9");
                let decoded: serde_json::Value =
                    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
                assert_eq!(decoded, serde_json::Value::Object(claims.clone()));
                assert_eq!(parts[2].len(), SIGNATURE_LEN);
                let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
                mac.update(format!("{}.{}", parts[0], parts[1]).as_bytes());
                mac.verify_slice(&URL_SAFE_NO_PAD.decode(parts[2]).unwrap())
                    .unwrap();
            }
        }
    }
}
