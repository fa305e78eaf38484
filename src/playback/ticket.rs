//! Tickets: what a playback or live URL grants, signed into its path so the relative URLs of
//! a playlist (init, segments) carry it too. A ticket names the camera, the window (playback)
//! or nothing more (live), the stream profile, when it expires and the credential it was
//! issued to; every fetch checks that credential again, so a revoked one stops the URL.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::evidence::model::{LinkSubject, sign, verify};
use crate::playback::model::StreamProfile;

/// What a URL is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Recorded footage of `[from_ms, to_ms)`.
    Playback {
        /// Window start, ms since the epoch.
        from_ms: i64,
        /// Window end, ms since the epoch.
        to_ms: i64,
    },
    /// The live stream.
    Live,
}

/// A signed grant to one camera's footage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// The camera.
    pub camera_id: String,
    /// Playback window or live.
    pub grant: Grant,
    /// Main or sub stream.
    pub profile: StreamProfile,
    /// Unix seconds after which a new viewing cannot start with it.
    pub expires: i64,
    /// The credential it was issued to.
    pub subject: LinkSubject,
}

impl Ticket {
    fn claims(&self) -> String {
        let grant = match self.grant {
            Grant::Playback { from_ms, to_ms } => format!("playback:{from_ms}:{to_ms}"),
            Grant::Live => "live".to_owned(),
        };
        format!("{}:{}:{grant}", self.camera_id, self.profile.as_str())
    }

    /// The path-safe token: the claims and the signature.
    pub fn encode(&self, key: &[u8]) -> String {
        let subject = self.subject.to_string();
        let claims = self.claims();
        let sig = sign(key, &claims, self.expires, &subject);
        let body = format!("{claims}\n{}\n{subject}", self.expires);
        format!("{}.{sig}", URL_SAFE_NO_PAD.encode(body))
    }

    /// Reads and checks a token's signature (not its expiry, which depends on the fetch).
    pub fn decode(token: &str, key: &[u8]) -> Result<Ticket, &'static str> {
        let malformed = "the link is malformed";
        let (body, sig) = token.split_once('.').ok_or(malformed)?;
        let body = URL_SAFE_NO_PAD.decode(body).map_err(|_| malformed)?;
        let body = String::from_utf8(body).map_err(|_| malformed)?;
        let mut lines = body.split('\n');
        let (claims, expires, subject) = (
            lines.next().ok_or(malformed)?,
            lines.next().ok_or(malformed)?,
            lines.next().ok_or(malformed)?,
        );
        let expires: i64 = expires.parse().map_err(|_| malformed)?;
        // Checked with the expiry at the epoch: the caller decides whether it still counts.
        verify(key, claims, expires, subject, sig, i64::MIN)?;
        let subject = LinkSubject::parse(subject).ok_or(malformed)?;
        let mut parts = claims.split(':');
        let camera_id = parts.next().ok_or(malformed)?.to_owned();
        let profile = StreamProfile::parse(parts.next().ok_or(malformed)?).ok_or(malformed)?;
        let grant = match parts.next() {
            Some("live") => Grant::Live,
            Some("playback") => Grant::Playback {
                from_ms: parts.next().and_then(|v| v.parse().ok()).ok_or(malformed)?,
                to_ms: parts.next().and_then(|v| v.parse().ok()).ok_or(malformed)?,
            },
            _ => return Err(malformed),
        };
        Ok(Ticket {
            camera_id,
            grant,
            profile,
            expires,
            subject,
        })
    }

    /// A key naming this exact ticket (for leases): its signature.
    pub fn key(token: &str) -> &str {
        token.rsplit('.').next().unwrap_or(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::token::TokenKind;

    #[test]
    fn a_ticket_round_trips_and_any_change_breaks_its_signature() {
        let key = b"0123456789abcdef0123456789abcdef";
        let ticket = Ticket {
            camera_id: "front_door".to_owned(),
            grant: Grant::Playback {
                from_ms: 1_000,
                to_ms: 61_000,
            },
            profile: StreamProfile::Main,
            expires: 1_900_000_000,
            subject: LinkSubject {
                kind: TokenKind::User,
                sid: "ses_1".to_owned(),
                sub: "usr_1".to_owned(),
            },
        };
        let token = ticket.encode(key);
        assert_eq!(Ticket::decode(&token, key), Ok(ticket.clone()));
        let other = Ticket {
            camera_id: "back_door".to_owned(),
            ..ticket.clone()
        };
        let (_, sig) = token.split_once('.').unwrap_or_default();
        let (forged, _) = other
            .encode(key)
            .split_once('.')
            .map(|(b, s)| (b.to_owned(), s.to_owned()))
            .unwrap_or_default();
        assert!(Ticket::decode(&format!("{forged}.{sig}"), key).is_err());
        assert!(Ticket::decode(&token, b"another key, also thirty-two byt").is_err());
        assert!(Ticket::decode("garbage", key).is_err());
    }
}
