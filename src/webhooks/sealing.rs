//! Webhook signing secrets at rest.
//!
//! A webhook's secret must be read back to sign each delivery, so it cannot be hashed like a
//! password or an API key; it is sealed instead, with XChaCha20-Poly1305 under a key derived
//! from the token secret (which every server of a fleet shares, and which is kept outside the
//! database), bound to the webhook's id. A copy of the database alone (a backup, a replica)
//! then lets no one sign deliveries that receivers would trust.
//!
//! Rows stored before sealing hold the plain `whsec_…` secret: they are still read, and
//! [`seal_stored`] seals them when the server starts. A secret sealed under another token
//! secret (the token secret was changed) cannot be read: its deliveries fail with a reason that
//! says to rotate it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use entity::webhook;
use hmac::Mac;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, sea_query::Expr};

use crate::error::AppError;
use crate::state::AppState;

/// How a sealed secret starts (a plain one starts with `whsec_`).
const SEALED_PREFIX: &str = "sealed1:";

/// Why a stored secret could not be read.
pub const UNREADABLE: &str = "the webhook's signing secret was sealed under another token secret (HELDAR_JWT_SECRET changed); set a new one with rotateWebhookSecret";

/// Seals and opens webhook secrets with this server's key.
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox")
    }
}

impl SecretBox {
    /// The box whose key is derived from the token secret.
    pub fn new(token_secret: &[u8]) -> SecretBox {
        let key = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(token_secret)
            .map(|mut mac| {
                mac.update(b"heldar webhook secrets v1");
                mac.finalize().into_bytes()
            })
            .unwrap_or_default();
        SecretBox {
            cipher: XChaCha20Poly1305::new(&key),
        }
    }

    /// `secret` sealed for the webhook `webhook_id` (a random nonce each time).
    pub fn seal(&self, webhook_id: &str, secret: &str) -> String {
        let nonce_bytes: [u8; 24] = rand::random();
        let nonce = XNonce::from(nonce_bytes);
        let payload = Payload {
            msg: secret.as_bytes(),
            aad: webhook_id.as_bytes(),
        };
        // Encryption fails only for messages of some 256 GiB.
        let sealed = self.cipher.encrypt(&nonce, payload).unwrap_or_default();
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&sealed);
        format!("{SEALED_PREFIX}{}", B64.encode(out))
    }

    /// The secret stored for `webhook_id`: opened when sealed, as it is when stored plain (a row
    /// from before sealing). `None` when it was sealed under another key or altered.
    pub fn open(&self, webhook_id: &str, stored: &str) -> Option<String> {
        let Some(sealed) = stored.strip_prefix(SEALED_PREFIX) else {
            return Some(stored.to_owned());
        };
        let bytes = B64.decode(sealed).ok()?;
        if bytes.len() < 24 {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().ok()?;
        let payload = Payload {
            msg: sealed,
            aad: webhook_id.as_bytes(),
        };
        let plain = self.cipher.decrypt(&XNonce::from(nonce), payload).ok()?;
        String::from_utf8(plain).ok()
    }
}

/// Whether a stored secret is sealed.
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(SEALED_PREFIX)
}

/// Seals every secret still stored plain (rows written before sealing); returns how many were
/// sealed. Each update applies only if the row still holds what was read, so servers starting
/// together never seal a secret twice.
pub async fn seal_stored(state: &AppState) -> Result<u64, AppError> {
    let plain = webhook::Entity::find()
        .filter(
            Condition::any()
                .add(webhook::Column::Secret.not_like(format!("{SEALED_PREFIX}%")))
                .add(webhook::Column::PreviousSecret.not_like(format!("{SEALED_PREFIX}%"))),
        )
        .all(&state.db)
        .await?;
    let sealer = &state.webhooks.sealer;
    let mut sealed = 0;
    for hook in plain {
        let mut update = webhook::Entity::update_many()
            .filter(webhook::Column::Id.eq(hook.id.clone()))
            .filter(webhook::Column::Secret.eq(hook.secret.clone()));
        if !is_sealed(&hook.secret) {
            update = update.col_expr(
                webhook::Column::Secret,
                Expr::value(sealer.seal(&hook.id, &hook.secret)),
            );
        }
        if let Some(previous) = hook.previous_secret.as_ref().filter(|p| !is_sealed(p)) {
            update = update
                .col_expr(
                    webhook::Column::PreviousSecret,
                    Expr::value(sealer.seal(&hook.id, previous)),
                )
                .filter(webhook::Column::PreviousSecret.eq(previous.clone()));
        }
        sealed += update.exec(&state.db).await?.rows_affected;
    }
    if sealed > 0 {
        tracing::info!(
            webhooks = sealed,
            "sealed webhook secrets stored in the clear"
        );
    }
    Ok(sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_for_its_webhook_and_key() {
        let mine = SecretBox::new(b"token secret one, long enough to be a key");
        let other = SecretBox::new(b"token secret two, long enough to be a key");
        let sealed = mine.seal("whk_a", "whsec_c2VjcmV0");
        assert!(is_sealed(&sealed));
        assert!(!sealed.contains("c2VjcmV0"));
        assert_ne!(
            sealed,
            mine.seal("whk_a", "whsec_c2VjcmV0"),
            "a fresh nonce each time"
        );
        assert_eq!(
            mine.open("whk_a", &sealed).as_deref(),
            Some("whsec_c2VjcmV0")
        );
        assert_eq!(mine.open("whk_b", &sealed), None, "bound to its webhook");
        assert_eq!(other.open("whk_a", &sealed), None, "another key");
        let mut altered = sealed.clone();
        altered.pop();
        assert_eq!(mine.open("whk_a", &altered), None);
        assert_eq!(mine.open("whk_a", "sealed1:"), None);
        assert_eq!(
            mine.open("whk_a", "whsec_c2VjcmV0").as_deref(),
            Some("whsec_c2VjcmV0"),
            "a row from before sealing"
        );
    }
}
