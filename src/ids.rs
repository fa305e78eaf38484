//! Ids: a type prefix and a time-ordered UUID, so ids sort by creation and say what they name.

/// A new id with a type prefix (`usr_…`, `ses_…`, `seg_…`): the prefix, `_`, and a UUIDv7 in
/// simple form.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}
