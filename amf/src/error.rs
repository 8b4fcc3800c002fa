//! The error of AMF0 and AMF3 decoding.

/// Errors from decoding AMF0 or AMF3.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmfError {
    /// The input ended inside a value.
    #[error("amf input ended: needed {needed} bytes, {available} available")]
    NotEnoughData {
        /// Bytes the value needs from this point.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// An AMF0 type marker this decoder does not know (or a reserved one: MovieClip, RecordSet).
    #[error("unknown amf0 type marker {marker:#04x}")]
    UnknownAmf0Marker {
        /// The marker byte.
        marker: u8,
    },
    /// An AMF3 type marker this decoder does not know.
    #[error("unknown amf3 type marker {marker:#04x}")]
    UnknownAmf3Marker {
        /// The marker byte.
        marker: u8,
    },
    /// An AMF0 object-end marker (`0x09`) where a value was expected.
    #[error("object end marker where a value was expected")]
    UnexpectedObjectEnd,
    /// Objects or arrays nested deeper than [`MAX_DEPTH`](crate::amf0::MAX_DEPTH).
    #[error("values nested deeper than {limit} levels")]
    TooDeep {
        /// The limit.
        limit: usize,
    },
    /// A count read from the input is larger than the remaining bytes could hold.
    #[error("{what}: count {count} exceeds the {available} bytes left")]
    CountExceedsInput {
        /// What was counted.
        what: &'static str,
        /// The declared count.
        count: u64,
        /// Bytes that were left.
        available: usize,
    },
    /// An AMF3 reference to a string, object or trait that was not (yet) decoded.
    #[error("amf3 {table} reference {index} is out of range")]
    InvalidReference {
        /// `"string"`, `"object"` or `"trait"`.
        table: &'static str,
        /// The index found.
        index: u32,
    },
    /// An AMF3 object reference to an object still being decoded (a cycle).
    #[error("amf3 object reference {index} points at an enclosing object (cycle)")]
    CyclicReference {
        /// The index found.
        index: u32,
    },
    /// AMF3 references would expand the decoded value beyond the decoder's budget.
    #[error("amf3 references expand beyond {limit} units")]
    ExpansionLimit {
        /// The budget.
        limit: usize,
    },
    /// An AMF3 externalizable object: its body format is private to its class.
    #[error("amf3 externalizable object of class {class_name:?} cannot be decoded")]
    Externalizable {
        /// The class of the object.
        class_name: String,
    },
}
