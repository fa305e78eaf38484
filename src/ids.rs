//! Ids: a type prefix and a time-ordered UUID, so ids sort by creation and say what they name.

/// A new id with a type prefix (`usr_…`, `ses_…`, `seg_…`): the prefix, `_`, and a UUIDv7 in
/// simple form.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// The type prefix of an id this server generated (`zone` of `zone_0190…`): a known prefix
/// followed by a UUID in simple form, or `evt`/`aud` followed by a sequence number. Camera ids
/// (slugs) never take this form, so every id is unique across kinds.
pub fn generated_prefix(id: &str) -> Option<&str> {
    let (prefix, rest) = id.split_once('_')?;
    let uuid = rest.len() == 32
        && rest
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    let sequence = !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit());
    match prefix {
        "usr" | "key" | "seg" | "clip" | "hold" | "zone" | "ait" | "snap" | "gap" | "ses"
        | "ail"
            if uuid =>
        {
            Some(prefix)
        }
        "evt" | "aud" if sequence => Some(prefix),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_told_from_camera_slugs() {
        assert_eq!(generated_prefix(&new_id("zone")), Some("zone"));
        assert_eq!(generated_prefix("evt_42"), Some("evt"));
        assert_eq!(generated_prefix("zone_3"), None, "a camera named Zone 3");
        assert_eq!(generated_prefix("front_door"), None);
        assert_eq!(generated_prefix("evt_x"), None);
    }
}
