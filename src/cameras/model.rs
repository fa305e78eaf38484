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
        if new.password() != Some(MASK) {
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
        let _ = new.set_password(old.password());
        Ok(StreamUrl(new.to_string()))
    }
}

/// A URL's port, or its scheme's default (RTSP's 554 and RTSPS's 322 included).
fn port_of(url: &Url) -> Option<u16> {
    url.port_or_known_default().or(match url.scheme() {
        "rtsp" => Some(554),
        "rtsps" => Some(322),
        _ => None,
    })
}

/// Whether a stored URL carries a password.
pub fn has_password(stored: &str) -> bool {
    Url::parse(stored)
        .ok()
        .is_some_and(|url| url.password().is_some_and(|p| !p.is_empty()))
}

/// A stored URL as the API shows it: the password replaced by `***`.
pub fn masked(stored: &str) -> String {
    match Url::parse(stored) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some(MASK));
            url.to_string()
        }
        Ok(url) => url.to_string(),
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
        let explicit = StreamUrl::parse("f", "rtsp://admin:new@evil.example/s", false).unwrap();
        assert!(explicit.keeping_password_of("f", stored).is_ok());
        assert!(!has_password("rtsp://cam.local/stream"));
    }
}
