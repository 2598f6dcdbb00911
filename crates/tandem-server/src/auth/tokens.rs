//! The two kinds of token a client holds, and how they are made and checked:
//!
//! - an **access token**: a JWT (HS256, ≤ 10 min) naming the user and the login session, sent as
//!   `Authorization: Bearer` or in the `tandem.v1` auth message; verified by signature and expiry,
//!   then checked against the session (so logout and disabling take effect at once);
//! - a **refresh token**: 32 random bytes in an HttpOnly cookie; the server keeps only its SHA-256.
//!
//! Share-link tokens are made the same way as refresh tokens. This module owns no storage.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const AUDIENCE: &str = "tandem";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, as a string (JWT's `sub`).
    pub sub: String,
    /// The login session (refresh-token family) this token came from.
    pub sid: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    pub iat: u64,
    pub aud: String,
}

impl Claims {
    pub fn user_id(&self) -> Option<i64> {
        self.sub.parse().ok()
    }
}

pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl TokenKeys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Signs an access token for `user_id` in session `sid`, valid until `exp` (Unix seconds).
    pub fn issue(&self, user_id: i64, sid: &str, now: u64, exp: u64) -> String {
        let claims = Claims {
            sub: user_id.to_string(),
            sid: sid.to_owned(),
            exp,
            iat: now,
            aud: AUDIENCE.into(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 signing cannot fail")
    }

    /// Signs other short-lived claims with the same key (a sign-in flow's state, which the
    /// browser holds): they must carry their own `aud` and an `exp`.
    pub fn sign_as<T: Serialize>(&self, claims: &T) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .expect("HS256 signing cannot fail")
    }

    /// Claims made by [`TokenKeys::sign_as`] for `audience`, unexpired; `None` for anything else.
    pub fn verify_as<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        audience: &str,
    ) -> Option<T> {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_audience(&[audience]);
        v.leeway = 0;
        v.set_required_spec_claims(&["exp", "aud"]);
        jsonwebtoken::decode::<T>(token, &self.decoding, &v)
            .ok()
            .map(|d| d.claims)
    }

    /// Signature, audience and expiry; `None` for anything else.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|d| d.claims)
    }
}

/// 256 random bits, URL-safe.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// What the store keeps instead of a token.
pub fn hash_token(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_tokens_verify_and_expire() {
        let keys = TokenKeys::new(b"k1");
        let now = unix_now();
        let t = keys.issue(7, "s", now, now + 60);
        let c = keys.verify(&t).unwrap();
        assert_eq!((c.user_id(), c.sid.as_str()), (Some(7), "s"));
        assert!(keys
            .verify(&keys.issue(7, "s", now - 120, now - 1))
            .is_none());
        assert!(TokenKeys::new(b"other").verify(&t).is_none());
        let mut tampered = t.clone();
        tampered.pop();
        assert!(keys.verify(&tampered).is_none());
        assert_ne!(random_token(), random_token());
        assert_eq!(hash_token("a"), hash_token("a"));
    }
}
