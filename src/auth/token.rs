//! Access tokens (HS256 JWTs) and opaque secrets (refresh tokens, API keys).

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::AppError;

/// `iss` of every access token.
pub const ISSUER: &str = "heldar";
/// `aud` of every access token.
pub const AUDIENCE: &str = "heldar-api";
/// The JWT `typ` header of access tokens (RFC 9068), so no other token type is accepted.
pub const ACCESS_TYPE: &str = "at+jwt";
/// Clock skew tolerated on `nbf` and `exp`, in seconds.
pub const LEEWAY_SECS: i64 = 5;

/// What kind of credential a token stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// A user's session.
    User,
    /// An API key.
    ApiKey,
}

/// Claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// User id or API key id.
    pub sub: String,
    /// Session id (users) or key id (API keys).
    pub sid: String,
    /// Credential kind.
    pub kind: TokenKind,
    /// Issued at (seconds).
    pub iat: i64,
    /// Not before (seconds).
    pub nbf: i64,
    /// Expires at (seconds).
    pub exp: i64,
    /// Unique token id.
    pub jti: String,
}

/// The HS256 signing key and the validation rules.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// Tokens whose signature, algorithm, type, issuer and audience were checked, with their
    /// claims. The check depends only on the token's bytes and the key, so a repeat needs only
    /// the time checks (made on every call). Only tokens that verified are kept, and clones
    /// share the memory.
    verified: std::sync::Arc<
        std::sync::Mutex<std::collections::HashMap<Box<str>, std::sync::Arc<Claims>>>,
    >,
}

/// Most verified tokens remembered; past this the memory starts over.
const VERIFIED_MAX: usize = 10_000;

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKeys([redacted])")
    }
}

impl TokenKeys {
    /// Keys from a secret of at least 32 bytes.
    pub fn new(secret: &[u8]) -> TokenKeys {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        // Time is checked against the server's clock in `verify`, not the library's.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        TokenKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            verified: Default::default(),
        }
    }

    /// The check of a token not seen before: signature, algorithm, type, issuer and audience
    /// (not the times; [`verify`](Self::verify) checks those on every use).
    pub fn verify_signature(&self, token: &str) -> Result<Claims, AppError> {
        let refused = |why: &str| {
            tracing::debug!(reason = why, "access token refused");
            AppError::Unauthenticated("invalid or expired access token".into())
        };
        let header = jsonwebtoken::decode_header(token).map_err(|_| refused("malformed"))?;
        if header.alg != Algorithm::HS256 || header.typ.as_deref() != Some(ACCESS_TYPE) {
            return Err(refused("wrong alg or typ"));
        }
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| refused(&e.to_string()))
    }

    /// Signs an access token.
    pub fn issue(&self, claims: &Claims) -> Result<String, AppError> {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(ACCESS_TYPE.to_owned());
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(AppError::internal)
    }

    /// Verifies signature, algorithm, type, issuer, audience and times; the error says which failed
    /// only in the server log.
    pub fn verify(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<std::sync::Arc<Claims>, AppError> {
        let refused = |why: &str| {
            tracing::debug!(reason = why, "access token refused");
            AppError::Unauthenticated("invalid or expired access token".into())
        };
        let remembered = self
            .verified
            .lock()
            .ok()
            .and_then(|v| v.get(token).cloned());
        let claims = match remembered {
            Some(claims) => claims,
            None => {
                let claims = std::sync::Arc::new(self.verify_signature(token)?);
                if let Ok(mut verified) = self.verified.lock() {
                    if verified.len() >= VERIFIED_MAX {
                        verified.clear();
                    }
                    verified.insert(token.into(), claims.clone());
                }
                claims
            }
        };
        let now = now.timestamp();
        if claims.nbf > now + LEEWAY_SECS {
            return Err(refused("not yet valid"));
        }
        if claims.exp <= now - LEEWAY_SECS {
            return Err(refused("expired"));
        }
        Ok(claims)
    }
}

/// The JWT secret: `HELDAR_JWT_SECRET`, else `<data dir>/jwt-secret` (created once, mode 0600).
pub fn load_secret(config: &Config) -> Result<Vec<u8>, String> {
    if let Some(secret) = &config.jwt_secret {
        return Ok(secret.expose().as_bytes().to_vec());
    }
    let path = config.data_dir.join("jwt-secret");
    match std::fs::read(&path) {
        Ok(bytes) if bytes.len() >= 32 => Ok(bytes),
        Ok(_) => Err(format!(
            "{} is shorter than 32 bytes; delete it to generate a new one",
            path.display()
        )),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => create_secret_file(&path),
        Err(err) => Err(format!("cannot read {}: {err}", path.display())),
    }
}

fn create_secret_file(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let secret = random_token("").into_bytes();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(&secret)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a JWT signing secret");
    Ok(secret)
}

/// 32 random bytes, base64url, after `prefix`.
pub fn random_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// SHA-256 hex: how refresh tokens and API keys are stored.
pub fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: i64) -> Claims {
        Claims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: "usr_1".into(),
            sid: "ses_1".into(),
            kind: TokenKind::User,
            iat: now,
            nbf: now,
            exp: now + 60,
            jti: "j".into(),
        }
    }

    #[test]
    fn a_remembered_token_is_still_checked_for_time_and_a_changed_one_for_everything() {
        let keys = TokenKeys::new(b"0123456789abcdef0123456789abcdef");
        let now = Utc::now();
        let token = keys.issue(&claims(now.timestamp())).unwrap();
        assert!(keys.verify(&token, now).is_ok());
        assert!(keys.verify(&token, now).is_ok(), "remembered");
        assert!(
            keys.verify(&token, now + chrono::Duration::seconds(120))
                .is_err(),
            "expiry is checked on every use"
        );
        // One character of the signature changed: never remembered, so refused.
        let mut forged = token.clone();
        let last = forged.pop().unwrap();
        forged.push(if last == 'A' { 'B' } else { 'A' });
        assert!(keys.verify(&forged, now).is_err());
        // Another server's key refuses it whatever this one remembers.
        let other = TokenKeys::new(b"another secret of at least 32 bytes!");
        assert!(other.verify(&token, now).is_err());
    }
}
