//! Scalars of our own: `Long`, a 64-bit integer for byte counts and counters that pass 2^31
//! (GraphQL's `Int` is 32-bit, and strict clients refuse larger values).

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

/// A signed 64-bit integer (see the `Long` scalar in the schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
#[serde(transparent)]
pub struct Long(pub i64);

/// A signed 64-bit integer, written as a JSON number. Byte counts, sizes and sequence numbers
/// use it because they can pass 2^31. Values up to 2^53 are exact in JavaScript numbers.
/// Input accepts a JSON number or a string of digits.
#[Scalar(
    name = "Long",
    specified_by_url = "https://ibm.github.io/graphql-specs/custom-scalars/long.html"
)]
impl ScalarType for Long {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::Number(n) => n
                .as_i64()
                .map(Long)
                .ok_or_else(|| InputValueError::custom("a Long is a whole number within 64 bits")),
            Value::String(s) => s
                .trim()
                .parse::<i64>()
                .map(Long)
                .map_err(|_| InputValueError::custom("a Long is a whole number within 64 bits")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::Number(n) if n.is_i64()) || matches!(value, Value::String(_))
    }

    fn to_value(&self) -> Value {
        Value::Number(self.0.into())
    }
}

impl From<i64> for Long {
    fn from(value: i64) -> Self {
        Long(value)
    }
}

impl From<Long> for i64 {
    fn from(value: Long) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_reads_numbers_and_digit_strings_past_32_bits() {
        let big = 5_000_000_000_i64;
        assert_eq!(Long::parse(Value::Number(big.into())).unwrap(), Long(big));
        assert_eq!(
            Long::parse(Value::String(" 5000000000".into())).unwrap(),
            Long(big)
        );
        assert!(Long::parse(Value::String("5e9".into())).is_err());
        assert!(Long::parse(Value::Boolean(true)).is_err());
        assert_eq!(Long(big).to_value(), Value::Number(big.into()));
    }
}
