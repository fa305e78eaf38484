//! Camera rules without I/O: ids, stream URL checks and masking, setting ranges.

use url::Url;

use crate::error::AppError;

/// Accepted segment lengths, in seconds.
pub const SEGMENT_SECONDS: std::ops::RangeInclusive<i32> = 2..=3600;
/// Accepted retention, in hours (up to five years).
pub const RETENTION_HOURS: std::ops::RangeInclusive<i32> = 1..=43_800;
/// What a password looks like in a masked URL; sending it back keeps the stored password.
pub const MASK: &str = "***";

/// A camera id from a name or a requested id: lowercase ASCII letters and digits, runs of
/// anything else folded into one `_`, trimmed of `_`; `camera` when nothing is left. Ids are
/// stable (renaming a camera keeps its id) and safe as a directory name.
pub fn slugify(text: &str) -> String {
    let mut slug = String::with_capacity(text.len());
    let mut pending = false;
    for ch in text.chars() {
        if ch.is_ascii_alphanumeric() {
            if pending && !slug.is_empty() {
                slug.push('_');
            }
            pending = false;
            slug.push(ch.to_ascii_lowercase());
        } else {
            pending = true;
        }
    }
    slug.truncate(64);
    let slug = slug.trim_end_matches('_').to_owned();
    if slug.is_empty() {
        "camera".to_owned()
    } else {
        slug
    }
}

/// A validated stream source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamUrl(String);

impl StreamUrl {
    /// Checks a stream URL: rtsp, rtsps, http or https; `file:` and `lavfi:` sources only when
    /// local sources are allowed. The error names `field`.
    pub fn parse(field: &str, raw: &str, allow_local: bool) -> Result<StreamUrl, AppError> {
        let raw = raw.trim();
        let bad = |message: &str| AppError::bad_input(field, message);
        if raw.is_empty() || raw.len() > 2048 {
            return Err(bad("must be 1 to 2048 characters"));
        }
        if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(bad("must not contain spaces or control characters"));
        }
        if let Some(graph) = raw.strip_prefix("lavfi:") {
            if !allow_local {
                return Err(bad(
                    "lavfi sources are allowed only with HELDAR_ALLOW_LOCAL_SOURCES",
                ));
            }
            if graph.is_empty() || graph.contains(['\'', '"', ';', '\\']) {
                return Err(bad(
                    "lavfi: needs a filter graph without quotes, `;` or `\\`",
                ));
            }
            return Ok(StreamUrl(raw.to_owned()));
        }
        let url = Url::parse(raw).map_err(|err| bad(&format!("is not a URL ({err})")))?;
        match url.scheme() {
            "rtsp" | "rtsps" | "http" | "https" => {
                if url.host_str().is_none_or(str::is_empty) {
                    return Err(bad("needs a host"));
                }
            }
            "file" if allow_local => {}
            "file" => {
                return Err(bad(
                    "file: sources are allowed only with HELDAR_ALLOW_LOCAL_SOURCES",
                ));
            }
            other => {
                return Err(bad(&format!(
                    "scheme `{other}` is not allowed; use rtsp, rtsps, http or https"
                )));
            }
        }
        Ok(StreamUrl(url.to_string()))
    }

    /// The URL with its password, for the recorder only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Keeps the password of `previous` when this URL carries the mask instead of one (a UI
    /// editing the masked URL sends it back unchanged). Only for the same scheme, host and
    /// port: the stored password is never sent to another address, so a mask with a new
    /// address is refused (the error names `field`) and the password must be given again.
    pub fn keeping_password_of(self, field: &str, previous: &str) -> Result<StreamUrl, AppError> {
        let (Ok(mut new), Ok(old)) = (Url::parse(&self.0), Url::parse(previous)) else {
            return Ok(self);
        };
        let masked_params = new.query().is_some_and(|q| {
            query_pieces(q).any(|(name, value)| is_secret(name) && value == Some(MASK))
        });
        if new.password() != Some(MASK) && !masked_params {
            return Ok(self);
        }
        let same_address = new.scheme() == old.scheme()
            && new.host_str() == old.host_str()
            && port_of(&new) == port_of(&old);
        if !same_address {
            return Err(AppError::bad_input(
                field,
                "the stored password is kept only for the same scheme, host and port; \
                 send the password for the new address",
            ));
        }
        if new.password() == Some(MASK) {
            let _ = new.set_password(old.password());
        }
        if masked_params && let Some(query) = new.query() {
            let old_query = old.query().unwrap_or_default();
            let kept = rewrite_secrets(query, |name| {
                query_pieces(old_query)
                    .find(|(n, _)| *n == name)
                    .and_then(|(_, v)| v)
                    .map(str::to_owned)
            });
            new.set_query(Some(&kept));
        }
        Ok(StreamUrl(new.to_string()))
    }
}

/// Query parameters cameras take credentials in (`…?user=admin&password=…`, `&token=…`).
const SECRET_PARAMS: [&str; 11] = [
    "password",
    "pass",
    "passwd",
    "pwd",
    "token",
    "access_token",
    "secret",
    "key",
    "apikey",
    "api_key",
    "auth",
];

fn is_secret(name: &str) -> bool {
    SECRET_PARAMS.iter().any(|s| s.eq_ignore_ascii_case(name))
}

/// A raw query's `name=value` pieces, unparsed (so what is not rewritten stays byte for byte).
fn query_pieces(query: &str) -> impl Iterator<Item = (&str, Option<&str>)> {
    query.split('&').map(|piece| match piece.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (piece, None),
    })
}

/// The query with each secret parameter's value replaced by what `value_of(name)` gives (the
/// piece is left as it is when that is `None`).
fn rewrite_secrets(query: &str, value_of: impl Fn(&str) -> Option<String>) -> String {
    query_pieces(query)
        .map(
            |(name, value)| match (is_secret(name), value, value_of(name)) {
                (true, Some(_), Some(new)) => format!("{name}={new}"),
                (_, Some(value), _) => format!("{name}={value}"),
                (_, None, _) => name.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("&")
}

/// A URL's port, or its scheme's default (RTSP's 554 and RTSPS's 322 included).
fn port_of(url: &Url) -> Option<u16> {
    url.port_or_known_default().or(match url.scheme() {
        "rtsp" => Some(554),
        "rtsps" => Some(322),
        _ => None,
    })
}

/// Whether a stored URL carries a password (in its user info or a credential parameter).
pub fn has_password(stored: &str) -> bool {
    Url::parse(stored).ok().is_some_and(|url| {
        url.password().is_some_and(|p| !p.is_empty())
            || url.query().is_some_and(|q| {
                query_pieces(q)
                    .any(|(name, value)| is_secret(name) && value.is_some_and(|v| !v.is_empty()))
            })
    })
}

/// A stored URL as the API shows it: the password, and the values of credential parameters
/// (`password=`, `token=`, …), replaced by `***`.
pub fn masked(stored: &str) -> String {
    match Url::parse(stored) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some(MASK));
            }
            if let Some(query) = url.query() {
                let hidden = rewrite_secrets(query, |_| Some(MASK.to_owned()));
                url.set_query(Some(&hidden));
            }
            url.to_string()
        }
        Err(_) => stored.to_owned(),
    }
}

/// Checks an optional integer setting against its range; the error names `field`.
pub fn check_range(
    field: &str,
    value: Option<i32>,
    range: std::ops::RangeInclusive<i32>,
) -> Result<Option<i32>, AppError> {
    match value {
        Some(v) if !range.contains(&v) => Err(AppError::bad_input(
            field,
            format!("must be between {} and {}", range.start(), range.end()),
        )),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lowercase_words_joined_by_underscores() {
        assert_eq!(slugify("Front Door"), "front_door");
        assert_eq!(slugify("  --Gate #2 (north)-- "), "gate_2_north");
        assert_eq!(slugify("Ünïcode"), "n_code");
        assert_eq!(slugify("!!!"), "camera");
    }

    #[test]
    fn stream_urls_are_allow_listed() {
        assert!(StreamUrl::parse("f", "rtsp://cam.local:554/stream1", false).is_ok());
        assert!(StreamUrl::parse("f", "https://cam.local/mjpeg", false).is_ok());
        for bad in [
            "ftp://x/y",
            "rtsp://",
            "not a url",
            "rtsp://cam/a b",
            "concat:a|b",
            "file:///etc/passwd",
            "lavfi:testsrc",
        ] {
            let err = StreamUrl::parse("input.streamUrl", bad, false).unwrap_err();
            assert!(
                matches!(err, AppError::BadUserInput { ref field, .. } if field == "input.streamUrl"),
                "{bad}: {err:?}"
            );
        }
        assert!(StreamUrl::parse("f", "file:///tmp/x.mp4", true).is_ok());
        assert!(StreamUrl::parse("f", "lavfi:testsrc2=size=320x240:rate=10", true).is_ok());
        assert!(StreamUrl::parse("f", "lavfi:a';b", true).is_err());
    }

    #[test]
    fn passwords_are_masked_and_kept_when_the_mask_comes_back() {
        let stored = "rtsp://admin:s3cret@cam.local/stream";
        assert!(has_password(stored));
        assert_eq!(masked(stored), "rtsp://admin:***@cam.local/stream");
        let edited = StreamUrl::parse("f", "rtsp://admin:***@cam.local/stream2", false).unwrap();
        assert_eq!(
            edited.keeping_password_of("f", stored).unwrap().expose(),
            "rtsp://admin:s3cret@cam.local/stream2"
        );
        for elsewhere in [
            "rtsp://admin:***@evil.example/stream",
            "rtsp://admin:***@cam.local:8554/stream",
            "rtsps://admin:***@cam.local/stream",
        ] {
            let moved = StreamUrl::parse("f", elsewhere, false).unwrap();
            assert!(
                moved.keeping_password_of("f", stored).is_err(),
                "{elsewhere}"
            );
        }
        // Credentials in the query (Reolink's `…/flv?user=admin&password=…`) are masked too,
        // the rest of the query kept byte for byte, and restored when the mask comes back.
        let query = "http://cam.local/flv?port=1935&user=admin&password=s%26cret&x=a%20b";
        assert!(has_password(query));
        assert_eq!(
            masked(query),
            "http://cam.local/flv?port=1935&user=admin&password=***&x=a%20b"
        );
        let edited = StreamUrl::parse("f", &masked(query), false).unwrap();
        assert_eq!(
            edited.keeping_password_of("f", query).unwrap().expose(),
            query
        );
        let moved = StreamUrl::parse("f", "http://evil.example/flv?password=***", false).unwrap();
        assert!(moved.keeping_password_of("f", query).is_err());
        let explicit = StreamUrl::parse("f", "rtsp://admin:new@evil.example/s", false).unwrap();
        assert!(explicit.keeping_password_of("f", stored).is_ok());
        assert!(!has_password("rtsp://cam.local/stream"));
    }
}
