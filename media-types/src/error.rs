/// Errors from parsing codec configuration records.
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
}
