/// Errors from parsing codec configuration records and the parameter sets they carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The record ended before a field it declares.
    #[error("{what}: needed {needed} bytes, {available} available")]
    NotEnoughData {
        /// Which structure was being read.
        what: &'static str,
        /// Bytes needed to continue.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// A version or reserved field has a value the specification does not allow.
    #[error("{what}: unsupported value {value}")]
    Unsupported {
        /// Which field.
        what: &'static str,
        /// The value found.
        value: u32,
    },
    /// A parameter set (SPS) ends before one of its fields, or a field holds a value the
    /// specification does not allow.
    #[error("{what}: cannot read {field}")]
    Malformed {
        /// Which structure was being read (e.g. `"h264 sequence parameter set"`).
        what: &'static str,
        /// The syntax element, as the specification names it.
        field: &'static str,
    },
    /// The record carries no parameter set of a kind that was asked for.
    #[error("no {what} in the decoder configuration record")]
    MissingParameterSet {
        /// The kind of parameter set.
        what: &'static str,
    },
}
