//! Webhook rules with no I/O: Standard Webhooks signatures and secrets, the retry schedule, the
//! receivers a webhook may target, and the body of a delivery.

use std::net::IpAddr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::AppError;

/// Prefix of a secret in the Standard Webhooks format.
pub const SECRET_PREFIX: &str = "whsec_";

/// A fresh secret: 32 random bytes, `whsec_<base64>`.
pub fn generate_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{SECRET_PREFIX}{}", B64.encode(bytes))
}

/// Checks a secret given by a client: `whsec_` and the base64 of 24 to 64 bytes.
pub fn parse_secret(field: &str, secret: &str) -> Result<String, AppError> {
    let key = secret.strip_prefix(SECRET_PREFIX).ok_or_else(|| {
        AppError::bad_input(field, "must start with `whsec_` (Standard Webhooks format)")
    })?;
    match B64.decode(key) {
        Ok(bytes) if (24..=64).contains(&bytes.len()) => Ok(secret.to_owned()),
        Ok(_) => Err(AppError::bad_input(
            field,
            "must carry 24 to 64 bytes of key after `whsec_`",
        )),
        Err(_) => Err(AppError::bad_input(field, "must be base64 after `whsec_`")),
    }
}

/// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` under `secret` (a `whsec_` secret).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = secret
        .strip_prefix(SECRET_PREFIX)
        .and_then(|k| B64.decode(k).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec());
    #[expect(clippy::expect_used, reason = "HMAC takes a key of any length")]
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC accepts any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` header: one signature per secret in force, space separated (during a
/// rotation's overlap a receiver holding either secret can verify).
pub fn signature_header(secrets: &[&str], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| sign(s, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// How long to wait before attempt `attempt + 1` after `attempt` failures: doubling from `base`
/// up to `cap`, with "equal jitter" (half fixed, half random), so each wait is at least as long
/// as the one before yet receivers are not hit in lockstep.
pub fn backoff(attempt: u32, base: Duration, cap: Duration, random: f64) -> Duration {
    let doubled = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let full = doubled.min(cap);
    full / 2 + full.mul_f64(random.clamp(0.0, 1.0) / 2.0)
}

/// Receivers a webhook may target although their address is not public: host names and CIDRs
/// from `HELDAR_WEBHOOK_ALLOWED_HOSTS`.
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    hosts: Vec<String>,
    nets: Vec<ipnet::IpNet>,
}

impl AllowList {
    /// Parses the entries: a CIDR (`10.0.0.0/8`), an address (`127.0.0.1`) or a host name.
    pub fn parse(entries: &[String]) -> AllowList {
        let mut list = AllowList::default();
        for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            if let Ok(net) = entry.parse::<ipnet::IpNet>() {
                list.nets.push(net);
            } else if let Ok(ip) = entry.parse::<IpAddr>() {
                list.nets.push(ipnet::IpNet::from(ip));
            } else {
                list.hosts.push(entry.to_ascii_lowercase());
            }
        }
        list
    }

    /// Whether the host name is listed.
    pub fn allows_host(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// Whether the address is inside a listed network.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// Whether `ip`, which `host` resolved to, may be connected to.
    pub fn permits(&self, host: &str, ip: IpAddr) -> bool {
        is_public(ip) || self.allows_host(host) || self.allows_ip(ip)
    }
}

/// Whether an address is on the public internet: not loopback, private, link-local, shared
/// (CGNAT), unspecified, multicast, documentation or otherwise reserved, in IPv4 or IPv6
/// (an IPv4-mapped IPv6 address is judged as its IPv4 address).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (18..20).contains(&o[1]))
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || (s[0] == 0x64 && s[1] == 0xff9b))
        }
    }
}

/// Checks a receiver URL's shape: http or https, a host, no credentials in it, at most 2,048
/// characters. Whether its address is allowed is checked when it is resolved.
pub fn parse_url(field: &str, raw: &str) -> Result<url::Url, AppError> {
    let raw = raw.trim();
    if raw.len() > 2048 {
        return Err(AppError::bad_input(
            field,
            "must be at most 2048 characters",
        ));
    }
    let url = url::Url::parse(raw)
        .map_err(|e| AppError::bad_input(field, format!("is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(AppError::bad_input(field, "must be an http or https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(AppError::bad_input(field, "must name a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(AppError::bad_input(
            field,
            "must not carry credentials; receivers verify the signature instead",
        ));
    }
    Ok(url)
}

/// The body of a delivery: `{type, timestamp, data}` as Standard Webhooks suggests, `data` being
/// the event as the GraphQL API shows it.
pub fn body(event: &entity::event::Model) -> Vec<u8> {
    serde_json::json!({
        "type": format!("event.{}", event.kind),
        "timestamp": event.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": crate::events::model::wire_json(event),
    })
    .to_string()
    .into_bytes()
}

/// The first `max` bytes of a receiver's answer as text, cut at a character boundary.
pub fn prefix(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(max)]).into_owned();
    text.trim_end_matches('\u{FFFD}').to_owned()
}

/// The URL for logs and the audit trail: scheme, host, port and path; a query string (where
/// receivers often take a token) is replaced by `?…`.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            let had_query = parsed.query().is_some();
            parsed.set_query(None);
            parsed.set_fragment(None);
            let mut out = parsed.to_string();
            if had_query {
                out.push_str("?…");
            }
            out
        }
        Err(_) => "(unparseable URL)".to_owned(),
    }
}

/// Whether the previous secret still signs at `now`.
pub fn previous_in_force(until: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    until.is_some_and(|u| now < u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn backoff_grows_and_stays_capped() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_secs(10);
        let mut previous_max = Duration::ZERO;
        for attempt in 1..20 {
            let low = backoff(attempt, base, cap, 0.0);
            let high = backoff(attempt, base, cap, 1.0);
            assert!(low >= previous_max || high == cap, "attempt {attempt}");
            assert!(high <= cap);
            previous_max = high;
        }
    }

    #[test]
    fn private_and_reserved_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        assert!(is_public("93.184.216.34".parse().unwrap()));
        assert!(is_public("2606:4700::1111".parse().unwrap()));
    }

    #[test]
    fn allow_list_takes_hosts_addresses_and_networks() {
        let list = AllowList::parse(&["127.0.0.1".into(), "10.0.0.0/8".into(), "Hooks.LAN".into()]);
        assert!(list.permits("x", "127.0.0.1".parse().unwrap()));
        assert!(list.permits("x", "10.9.9.9".parse().unwrap()));
        assert!(list.permits("hooks.lan", "192.168.1.1".parse().unwrap()));
        assert!(!list.permits("x", "192.168.1.1".parse().unwrap()));
    }

    #[test]
    fn urls_need_http_a_host_and_no_credentials() {
        assert!(parse_url("url", "https://example.com/hook").is_ok());
        assert!(parse_url("url", "ftp://example.com").is_err());
        assert!(parse_url("url", "https://user:pw@example.com").is_err());
        assert!(parse_url("url", "not a url").is_err());
    }

    #[test]
    fn query_strings_stay_out_of_logs() {
        assert_eq!(
            redacted("https://hooks.example/in?token=s3cret"),
            "https://hooks.example/in?…"
        );
        assert_eq!(
            redacted("http://a.example:8080/x"),
            "http://a.example:8080/x"
        );
    }

    #[test]
    fn secrets_are_checked() {
        assert!(parse_secret("s", &generate_secret()).is_ok());
        assert!(parse_secret("s", "whsec_c2hvcnQ=").is_err());
        assert!(parse_secret("s", "plain").is_err());
    }
}
