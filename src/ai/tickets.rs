//! Frame tickets: proof that a batch of detections comes from a frame this server handed to the
//! worker holding the task's lease.
//!
//! A ticket is `f1.<task>.<captured_ms>.<expires>.<mac>`: an HMAC-SHA256 (base64url) over the
//! version, the credential, the camera, the task, the capture time and the expiry. The
//! credential and camera are not in the token: the server recomputes them from the caller and
//! the task, so a ticket is useless to anyone else and for any other camera. The key is derived
//! from the JWT secret, so every instance sharing that secret accepts it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The parts of a ticket the token carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// The task the frame was pulled for.
    pub task_id: String,
    /// When the frame was captured (unix ms).
    pub captured_ms: i64,
    /// When the ticket lapses (unix seconds).
    pub expires: i64,
    mac: Vec<u8>,
}

impl Ticket {
    /// The frame id a ticketed batch is stored under (no unticketed batch can use it).
    pub fn frame_id(&self) -> String {
        format!("t:{}:{}", self.task_id, self.captured_ms)
    }
}

/// Signs and checks tickets.
#[derive(Clone)]
pub struct TicketKey(Vec<u8>);

impl std::fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TicketKey(..)")
    }
}

fn preimage(holder: &str, camera: &str, task: &str, captured_ms: i64, expires: i64) -> String {
    format!("f1\n{holder}\n{camera}\n{task}\n{captured_ms}\n{expires}")
}

impl TicketKey {
    /// A key derived from the server secret.
    pub fn derive(secret: &[u8]) -> TicketKey {
        let key = HmacSha256::new_from_slice(secret)
            .map(|mut mac| {
                mac.update(b"heldar frame tickets v1");
                mac.finalize().into_bytes().to_vec()
            })
            .unwrap_or_default();
        TicketKey(key)
    }

    fn mac(&self) -> Option<HmacSha256> {
        HmacSha256::new_from_slice(&self.0).ok()
    }

    /// A ticket for `holder` on `camera`'s frame captured at `captured_ms`, pulled for `task`.
    pub fn issue(
        &self,
        holder: &str,
        camera: &str,
        task: &str,
        captured_ms: i64,
        expires: i64,
    ) -> String {
        let Some(mut mac) = self.mac() else {
            return String::new();
        };
        mac.update(preimage(holder, camera, task, captured_ms, expires).as_bytes());
        let tag = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("f1.{task}.{captured_ms}.{expires}.{tag}")
    }

    /// Checks the MAC for this caller and camera, then the expiry at `now` (unix seconds).
    pub fn verify(
        &self,
        ticket: &Ticket,
        holder: &str,
        camera: &str,
        now: i64,
    ) -> Result<(), &'static str> {
        let Some(mut mac) = self.mac() else {
            return Err("the ticket cannot be checked");
        };
        mac.update(
            preimage(
                holder,
                camera,
                &ticket.task_id,
                ticket.captured_ms,
                ticket.expires,
            )
            .as_bytes(),
        );
        mac.verify_slice(&ticket.mac)
            .map_err(|_| "the ticket was not issued to this credential for this camera")?;
        if ticket.expires < now {
            return Err("the ticket has expired; pull a fresh frame");
        }
        Ok(())
    }
}

/// Reads a ticket's parts; the MAC is checked by [`TicketKey::verify`].
pub fn parse(token: &str) -> Result<Ticket, &'static str> {
    let malformed = "not a frame ticket (expected f1.<task>.<captured ms>.<expires>.<mac>)";
    let parts: Vec<&str> = token.split('.').collect();
    let [version, task, captured, expires, tag] = parts.as_slice() else {
        return Err(malformed);
    };
    if *version != "f1" || task.is_empty() || task.len() > 64 {
        return Err(malformed);
    }
    let captured_ms = captured.parse().map_err(|_| malformed)?;
    let expires = expires.parse().map_err(|_| malformed)?;
    let mac = URL_SAFE_NO_PAD.decode(tag).map_err(|_| malformed)?;
    Ok(Ticket {
        task_id: (*task).to_owned(),
        captured_ms,
        expires,
        mac,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_is_bound_to_its_credential_camera_and_time() {
        let key = TicketKey::derive(b"0123456789abcdef0123456789abcdef");
        let token = key.issue("apikey:a", "cam", "ait_1", 1_700_000_000_123, 2_000);
        let ticket = parse(&token).unwrap();
        assert_eq!(ticket.frame_id(), "t:ait_1:1700000000123");
        assert!(key.verify(&ticket, "apikey:a", "cam", 1_999).is_ok());
        assert!(
            key.verify(&ticket, "apikey:b", "cam", 1_999).is_err(),
            "another credential"
        );
        assert!(
            key.verify(&ticket, "apikey:a", "cam2", 1_999).is_err(),
            "another camera"
        );
        assert!(
            key.verify(&ticket, "apikey:a", "cam", 2_001).is_err(),
            "expired"
        );
        let forged = token.replace("1700000000123", "1700000000124");
        assert!(
            key.verify(&parse(&forged).unwrap(), "apikey:a", "cam", 1_999)
                .is_err()
        );
        let other = TicketKey::derive(b"another secret, 32 bytes or more!!");
        assert!(
            other.verify(&ticket, "apikey:a", "cam", 1_999).is_err(),
            "another server"
        );
        assert!(parse("f1.x.y").is_err());
        assert!(parse("f2.ait_1.1.2.AAAA").is_err());
    }
}
