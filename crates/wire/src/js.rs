//! JavaScript number constants, in the Rust types the codecs compare against. A leaf
//! module: it uses nothing else of this crate, so any module may use it.

/// `Number.MAX_SAFE_INTEGER`, 2^53 − 1: the largest integer a JavaScript number (an
/// IEEE 754 double) holds exactly, with every smaller integer. `-MAX_SAFE_INTEGER` is
/// `Number.MIN_SAFE_INTEGER`.
pub(crate) const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// [`MAX_SAFE_INTEGER`] as `f64` (exact: 2^53 − 1 fits the 53-bit significand).
pub(crate) const MAX_SAFE_INTEGER_F64: f64 = MAX_SAFE_INTEGER as f64;

/// [`MAX_SAFE_INTEGER`] as `u64`.
pub(crate) const MAX_SAFE_INTEGER_U64: u64 = MAX_SAFE_INTEGER as u64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_safe_integer_in_every_form() {
        assert_eq!(MAX_SAFE_INTEGER, 9_007_199_254_740_991);
        assert_eq!(MAX_SAFE_INTEGER_F64, 9_007_199_254_740_991.0);
        assert_eq!(MAX_SAFE_INTEGER_F64 as i64, MAX_SAFE_INTEGER);
        assert_eq!(MAX_SAFE_INTEGER_U64, 9_007_199_254_740_991);
        // The next integer is the first one a double cannot tell from its successor.
        assert_eq!(
            (MAX_SAFE_INTEGER_F64 + 1.0) + 1.0,
            MAX_SAFE_INTEGER_F64 + 1.0
        );
    }
}
