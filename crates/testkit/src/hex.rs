//! Hex text ↔ bytes, for golden vectors and byte-level assertions.

/// `b` as lowercase hex, two digits a byte.
pub fn encode(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of hex text `s` (two digits a byte, either case).
///
/// # Panics
/// On an odd length or a character that is not a hex digit: test input is wrong.
pub fn decode(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd-length hex: {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        assert_eq!(super::decode("00ffA0"), vec![0, 255, 160]);
        assert_eq!(super::encode(&[0, 255, 160]), "00ffa0");
    }
}
