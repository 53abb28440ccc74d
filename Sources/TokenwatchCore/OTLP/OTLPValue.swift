/// The value of an OTLP attribute (`AnyValue`), reduced to the scalar kinds a mapping reads.
public enum OTLPValue: Sendable, Equatable {
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)
    /// Bytes, arrays and key-value lists: present, but never what a mapped attribute should be.
    case other

    /// The value as text (strings as they are, numbers and booleans written out).
    var text: String? {
        switch self {
        case .string(let s): s
        case .int(let v): String(v)
        case .double(let v): String(v)
        case .bool(let v): v ? "true" : "false"
        case .other: nil
        }
    }

    /// The value as a count in 0...`limit`: an int, an integral double, or a decimal string
    /// (Claude Code sends its numbers as strings). Nil when it is anything else.
    func count(limit: Int64) -> Int64? {
        switch self {
        case .int(let v): return (0...limit).contains(v) ? v : nil
        case .double(let v):
            guard v.isFinite, v >= 0, v <= Double(limit), v.rounded(.towardZero) == v else { return nil }
            return Int64(v)
        case .string(let s):
            var n: Int64 = 0
            var digits = 0
            for c in s.utf8 {
                guard c >= 48, c <= 57, digits < 19 else { return nil }
                n = n * 10 + Int64(c - 48)
                digits += 1
            }
            return digits > 0 && n <= limit ? n : nil
        case .bool, .other: return nil
        }
    }
}

/// The mapped attributes of one resource or one log record, indexed by `OTLPAttributeKey`.
/// Attributes the mapping does not name are never turned into strings.
public struct OTLPAttributes: Sendable, Equatable {
    private var values = [OTLPValue?](repeating: nil, count: OTLPAttributeKey.allCases.count)

    public init() {}

    public subscript(key: OTLPAttributeKey) -> OTLPValue? {
        get { values[key.rawValue] }
        set { values[key.rawValue] = newValue }
    }
}
