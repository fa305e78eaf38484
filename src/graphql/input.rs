//! Input checks shared by resolvers; every error names the field it is about.

use crate::error::AppError;

/// A trimmed text of 1 to `max` characters, without control characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<String, AppError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
        return Err(AppError::bad_input(
            field,
            format!("1 to {max} characters, not blank, no control characters"),
        ));
    }
    Ok(v.to_owned())
}

/// `value` if it lies within `min..=max` (NaN never does).
pub fn in_range<T: PartialOrd + std::fmt::Display>(
    field: &str,
    value: T,
    min: T,
    max: T,
) -> Result<T, AppError> {
    if value >= min && value <= max {
        Ok(value)
    } else {
        Err(AppError::bad_input(
            field,
            format!("must be between {min} and {max}"),
        ))
    }
}

/// Refuses a list that names the same id twice (naming `field[i]` of the repeat): each id
/// asks for work and output of its own, so repeats only multiply the cost of a request.
pub fn distinct(field: &str, ids: &[async_graphql::ID]) -> Result<(), AppError> {
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    for (i, id) in ids.iter().enumerate() {
        if !seen.insert(id.as_str()) {
            return Err(AppError::bad_input(
                format!("{field}[{i}]"),
                format!("`{}` is listed twice", crate::audit::truncated(id.as_str())),
            ));
        }
    }
    Ok(())
}
