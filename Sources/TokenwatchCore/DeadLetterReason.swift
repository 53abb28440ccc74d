/// A field of the input event schema (CONTRACT.md §1), used to name what was wrong with a message.
public enum EventField: String, Sendable, CaseIterable {
    case eventId = "event_id"
    case ts
    case userId = "user_id"
    case team, tool, model, kind, source
    case sessionId = "session_id"
    case promptHash = "prompt_hash"
    case inputTokens = "input_tokens"
    case outputTokens = "output_tokens"
    case cacheReadTokens = "cache_read_tokens"
    case outcome
    case outcomeAccepted = "outcome.accepted"
    case outcomeLinesAdded = "outcome.lines_added"
    case outcomeLinesRemoved = "outcome.lines_removed"
    case outcomeCommits = "outcome.commits"
    case outcomePRs = "outcome.prs"
    case cacheCreationTokens = "cache_creation_tokens"
    case costMicros = "cost_micros"
    case agent, entrypoint
    case humanActiveMs = "human_active_ms"
    case agentActiveMs = "agent_active_ms"
    case editsAutoApproved = "edits_auto_approved"

    /// Longest accepted string, in bytes, for string fields.
    var maxBytes: Int {
        switch self {
        case .eventId: 128
        default: 256
        }
    }
}

/// Why a message went to the dead-letter topic instead of being counted.
public enum DeadLetterReason: Error, Hashable, Sendable, CustomStringConvertible {
    /// Not parseable JSON (or nested deeper than 64 levels).
    case invalidJSON
    /// Valid JSON, but not an object.
    case notAnObject
    /// A string that is not valid UTF-8.
    case invalidUTF8
    /// Larger than `engine.max_message_bytes`.
    case messageTooLarge
    /// A required field is absent (or null).
    case missingField(EventField)
    /// A field has the wrong JSON type.
    case wrongType(EventField)
    /// A count that is negative or above 10^9, or a timestamp outside years 1970–9999.
    case outOfRange(EventField)
    /// A count written with a fraction or exponent.
    case notInteger(EventField)
    /// A string longer than its bound.
    case tooLong(EventField)
    /// A required string that is empty.
    case empty(EventField)
    /// The same field twice in one object.
    case duplicateField(EventField)
    /// `ts` is a string but not RFC 3339.
    case invalidTimestamp
    /// `ts` is more than `max_future_skew` ahead of the newest accepted event time.
    case futureTimestamp
    /// Older than its partition's watermark and too old for every window not yet emitted.
    case late
    /// An OTLP input message, or a usage record in it, that yields no event (`otlp:…`, see `OTLPError`).
    case otlp(OTLPError)

    public var description: String {
        switch self {
        case .invalidJSON: "invalid_json"
        case .notAnObject: "not_an_object"
        case .invalidUTF8: "invalid_utf8"
        case .messageTooLarge: "message_too_large"
        case .missingField(let f): "missing_field:\(f.rawValue)"
        case .wrongType(let f): "wrong_type:\(f.rawValue)"
        case .outOfRange(let f): "out_of_range:\(f.rawValue)"
        case .notInteger(let f): "not_integer:\(f.rawValue)"
        case .tooLong(let f): "too_long:\(f.rawValue)"
        case .empty(let f): "empty:\(f.rawValue)"
        case .duplicateField(let f): "duplicate_field:\(f.rawValue)"
        case .invalidTimestamp: "invalid_timestamp"
        case .futureTimestamp: "future_timestamp"
        case .late: "late"
        case .otlp(let problem): problem.description
        }
    }
}
