//! Typed errors and input limits of every decoder in this crate.

/// Bounds applied to every decoder, since messages arrive from a shared Redis and are
/// untrusted.
///
/// The defaults (`max_bytes` 64 MiB, `max_depth` 64) are far above anything a Node
/// Socket.IO server sends (socket.io's own `maxHttpBufferSize` is 1 MB) while keeping a
/// hostile message from exhausting memory or the stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted message, in bytes (for stream entries: the `data` field).
    pub max_bytes: usize,
    /// Deepest accepted nesting of arrays and maps (a scalar at top level has depth 0).
    pub max_depth: usize,
}

impl Limits {
    /// Default largest message: 64 MiB.
    pub const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;
    /// Default deepest nesting: 64 levels.
    pub const DEFAULT_MAX_DEPTH: usize = 64;

    pub(crate) fn check_len(&self, len: usize) -> Result<(), DecodeError> {
        if len > self.max_bytes {
            return Err(DecodeError::TooLarge {
                len,
                max: self.max_bytes,
            });
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_depth: Self::DEFAULT_MAX_DEPTH,
        }
    }
}

/// Why a message could not be decoded.
///
/// Every decoder of this crate returns this type for any input it cannot accept; none
/// panics. [`DecodeError::kind`] gives a short stable label for counters and logs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input is larger than [`Limits::max_bytes`].
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Size of the input, in bytes.
        len: usize,
        /// The limit, in bytes.
        max: usize,
    },
    /// Arrays or maps nest deeper than [`Limits::max_depth`].
    #[error("nesting deeper than {max} levels")]
    TooDeep {
        /// The limit, in levels.
        max: usize,
    },
    /// The input ends inside a value.
    #[error("input ends inside a value at byte {offset}")]
    Truncated {
        /// Byte offset where more input was needed.
        offset: usize,
    },
    /// A msgpack marker that is never valid (`0xc1`).
    #[error("invalid msgpack marker 0x{marker:02x} at byte {offset}")]
    InvalidMarker {
        /// The marker byte.
        marker: u8,
        /// Its byte offset.
        offset: usize,
    },
    /// A msgpack string is not valid UTF-8.
    #[error("string at byte {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// Byte offset of the string's marker.
        offset: usize,
    },
    /// A msgpack map key is not a string (Node never sends one).
    #[error("map key at byte {offset} is not a string")]
    NonStringKey {
        /// Byte offset of the key.
        offset: usize,
    },
    /// Bytes follow the end of the top-level value.
    #[error("{count} bytes follow the end of the value")]
    TrailingBytes {
        /// How many bytes are left over.
        count: usize,
    },
    /// The input is not valid JSON.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// A stream entry's or a session record's base64 text is not valid base64.
    #[error("invalid base64")]
    Base64,
    /// A required member of a message is absent.
    #[error("{message} has no `{field}`")]
    MissingField {
        /// The message kind, e.g. `"classic broadcast"`.
        message: &'static str,
        /// The member's wire name, e.g. `"requestId"`.
        field: &'static str,
    },
    /// A member of a message has the wrong type.
    #[error("`{field}` of {message} is not {expected}")]
    WrongType {
        /// The message kind.
        message: &'static str,
        /// The member's wire name.
        field: &'static str,
        /// What was expected, e.g. `"a string"`.
        expected: &'static str,
    },
    /// A numeric message type this version does not know.
    #[error("unknown {what} type {value}")]
    UnknownType {
        /// Which enumeration, e.g. `"classic request"`.
        what: &'static str,
        /// The value received.
        value: i64,
    },
}

impl DecodeError {
    /// A short stable label for counters and "logged once per kind" logs, e.g.
    /// `"too_large"`, `"json"`, `"missing_field"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TooLarge { .. } => "too_large",
            Self::TooDeep { .. } => "too_deep",
            Self::Truncated { .. } => "truncated",
            Self::InvalidMarker { .. } => "invalid_marker",
            Self::InvalidUtf8 { .. } => "invalid_utf8",
            Self::NonStringKey { .. } => "non_string_key",
            Self::TrailingBytes { .. } => "trailing_bytes",
            Self::Json(_) => "json",
            Self::Base64 => "base64",
            Self::MissingField { .. } => "missing_field",
            Self::WrongType { .. } => "wrong_type",
            Self::UnknownType { .. } => "unknown_type",
        }
    }
}
