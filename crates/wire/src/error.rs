//! Typed errors and input limits of every decoder in this crate.

/// Bounds applied to every decoder, since messages arrive from a shared Redis and are
/// untrusted.
///
/// The defaults (`max_bytes` 64 MiB, `max_depth` 64, `max_elements` 2^20) are far above
/// anything a Node Socket.IO server sends (socket.io's own `maxHttpBufferSize` is 1 MB)
/// while keeping a hostile message from exhausting memory or the stack.
///
/// Fields may be added: build a `Limits` from [`Limits::default`] (or [`Limits::new`] in
/// a `const`) and the setters.
///
/// ```
/// use sio_redis_wire::Limits;
///
/// const SMALL: Limits = Limits::new().max_bytes(1 << 20).max_elements(10_000);
/// assert_eq!(SMALL.max_depth, Limits::DEFAULT_MAX_DEPTH);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest accepted message, in bytes (for stream entries: the `data` field).
    pub max_bytes: usize,
    /// Deepest accepted nesting of arrays and maps (a scalar at top level has depth 0).
    pub max_depth: usize,
    /// Most values one message may hold, counted as the decoders create them: the
    /// top-level value, and every array element and map member at any depth, whatever
    /// its type (a member's name and value count once; a repeated JSON member name
    /// counts each time it appears). `[1, [2, 3]]` holds 5 values, `{"a": {}}` 2.
    ///
    /// A container is charged its declared length before its elements are decoded, so
    /// that what a decoder allocates for one message is bounded by this count as well
    /// as by the input's length, whatever a msgpack length prefix claims.
    pub max_elements: usize,
}

impl Limits {
    /// Default largest message: 64 MiB.
    pub const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;
    /// Default deepest nesting: 64 levels.
    pub const DEFAULT_MAX_DEPTH: usize = 64;
    /// Default most values in one message: 2^20 = 1 048 576.
    ///
    /// Every value takes at least one byte of msgpack (two of JSON), so this admits
    /// every message of up to 1 MB (socket.io's default `maxHttpBufferSize`, 10^6 bytes)
    /// however it is made, with room to spare for the adapter's envelope. It bounds the
    /// decoded tree of one message to about 64 MiB (a [`Value`](crate::Value) is 40
    /// bytes, a map member 64) plus its strings and binary, which `max_bytes` bounds;
    /// without it, a 64 MiB message of 1-byte values would decode to 2.5 GiB.
    pub const DEFAULT_MAX_ELEMENTS: usize = 1 << 20;

    /// The defaults, as [`Limits::default`] gives them, usable in `const` items.
    pub const fn new() -> Self {
        Self {
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_depth: Self::DEFAULT_MAX_DEPTH,
            max_elements: Self::DEFAULT_MAX_ELEMENTS,
        }
    }

    /// Sets [`Limits::max_bytes`], in bytes.
    #[must_use]
    pub const fn max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// Sets [`Limits::max_depth`], in levels.
    #[must_use]
    pub const fn max_depth(mut self, levels: usize) -> Self {
        self.max_depth = levels;
        self
    }

    /// Sets [`Limits::max_elements`], a count of values.
    #[must_use]
    pub const fn max_elements(mut self, values: usize) -> Self {
        self.max_elements = values;
        self
    }

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
        Self::new()
    }
}

/// What is left of [`Limits::max_elements`] while one message is decoded.
#[derive(Debug)]
pub(crate) struct Budget {
    left: usize,
    max: usize,
}

impl Budget {
    /// The budget of one message, its top-level value already charged.
    ///
    /// # Errors
    /// [`DecodeError::TooManyElements`] when `max_elements` is 0.
    pub(crate) fn new(limits: &Limits) -> Result<Self, DecodeError> {
        let mut budget = Self {
            left: limits.max_elements,
            max: limits.max_elements,
        };
        budget.take(1)?;
        Ok(budget)
    }

    /// Charges `values` more values.
    ///
    /// # Errors
    /// [`DecodeError::TooManyElements`] when fewer are left.
    pub(crate) fn take(&mut self, values: usize) -> Result<(), DecodeError> {
        self.left = self
            .left
            .checked_sub(values)
            .ok_or(DecodeError::TooManyElements { max: self.max })?;
        Ok(())
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
    /// The message holds more values than [`Limits::max_elements`].
    #[error("more than {max} values in one message")]
    TooManyElements {
        /// The limit, a count of values.
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
            Self::TooManyElements { .. } => "too_many_elements",
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
