/// Why an OTLP message, or one log record in it, yields no tokenwatch event.
///
/// Each case has a stable dead-letter reason (`otlp:…`), so an operator can count and grep them.
public enum OTLPError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A protobuf length or varint runs past the end of its message.
    case truncated
    /// A known protobuf field arrived with another wire type (or a group, which OTLP never uses).
    case wrongWireType
    /// Not valid OTLP/JSON (bad JSON, wrong JSON type for a known key, nested too deep).
    case malformed
    /// A string that is not valid UTF-8.
    case invalidUTF8
    /// A well-formed request holding no log records (spans, Sum data points) at all.
    case emptyBatch
    /// A usage record, span or metric point naming no one the mapping or the identities file can use.
    case noIdentity
    /// A record with neither `time_unix_nano` nor `observed_time_unix_nano`.
    case noTimestamp
    /// A required attribute is absent (e.g. `input_tokens`).
    case missingAttribute(String)
    /// An attribute whose value cannot be what it names (a negative or fractional token count).
    case badAttribute(String)

    public var description: String {
        switch self {
        case .truncated: "otlp:truncated"
        case .wrongWireType: "otlp:wrong_wire_type"
        case .malformed: "otlp:malformed"
        case .invalidUTF8: "otlp:invalid_utf8"
        case .emptyBatch: "otlp:empty"
        case .noIdentity: "otlp:no_identity"
        case .noTimestamp: "otlp:no_timestamp"
        case .missingAttribute(let name): "otlp:missing_attribute:\(name)"
        case .badAttribute(let name): "otlp:bad_attribute:\(name)"
        }
    }
}
