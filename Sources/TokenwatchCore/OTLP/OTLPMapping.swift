/// The attribute names tokenwatch reads from OTLP logs: the one place that knows them.
///
/// Claude Code's `claude_code.api_request` event (its monitoring documentation, checked 2026-12):
/// standard attributes (`user.email`, `user.account_uuid`, `session.id`, …) and the event's own
/// (`model`, `input_tokens`, …) arrive as log-record attributes; what an admin adds with
/// `OTEL_RESOURCE_ATTRIBUTES` (e.g. `team.id`) arrives as resource attributes. Each key is looked
/// up on the record first and then on its resource.
public enum OTLPAttributeKey: Int, Sendable, CaseIterable {
    case eventName
    case userEmail
    case accountUUID
    case accountId
    case installId
    case teamId
    case sessionId
    case model
    case inputTokens
    case outputTokens
    case cacheReadTokens
    case requestId
    case clientRequestId

    /// The attribute name as the tool writes it.
    public var name: String {
        switch self {
        case .eventName: "event.name"
        case .userEmail: "user.email"
        case .accountUUID: "user.account_uuid"
        case .accountId: "user.account_id"
        case .installId: "user.id"
        case .teamId: "team.id"
        case .sessionId: "session.id"
        case .model: "model"
        case .inputTokens: "input_tokens"
        case .outputTokens: "output_tokens"
        case .cacheReadTokens: "cache_read_tokens"
        case .requestId: "request_id"
        case .clientRequestId: "client_request_id"
        }
    }

    private static let names: [[UInt8]] = allCases.map { Array($0.name.utf8) }

    /// The key whose name is `bytes`, or nil for attributes no mapping reads (most of them).
    static func matching(_ bytes: UnsafeRawBufferPointer) -> OTLPAttributeKey? {
        for (index, name) in names.enumerated() where name.count == bytes.count {
            if name.withUnsafeBytes({ $0.elementsEqual(bytes) }) { return OTLPAttributeKey(rawValue: index) }
        }
        return nil
    }
}

/// One log record as the readers hand it to the mapping: its mapped attributes, times and name.
public struct OTLPLogRecord: Sendable, Equatable {
    public var attributes = OTLPAttributes()
    public var timeUnixNano: UInt64 = 0
    public var observedTimeUnixNano: UInt64 = 0
    /// `LogRecord.event_name` (OTLP 1.5+), when set.
    public var eventName: String?
    /// The body when it is a string (Claude Code writes the full event name there).
    public var body: String?

    public init() {}
}

/// Turns Claude Code `api_request` log records into tokenwatch events.
///
/// | event field | from |
/// |---|---|
/// | (which records) | `event.name` = `api_request` (else `LogRecord.event_name`, else a string body) = `claude_code.api_request` |
/// | `event_id` | `request_id`, else `client_request_id`, else `otlp-` + a hash of the mapped fields |
/// | `ts` | `time_unix_nano`, else `observed_time_unix_nano`, in ms |
/// | `user_id` | the identities file's person for `user.email`, `user.account_uuid`, `user.account_id` or `user.id` (in that order); else `user.email`, else `user.account_uuid`, else unresolved (`otlp:no_identity`) |
/// | `team` | `team.id` (resource, or record) |
/// | `tool` | `claude_code` |
/// | `model`, `session_id` | `model`, `session.id` |
/// | `input_tokens`, `output_tokens` | `input_tokens`, `output_tokens` (required) |
/// | `cache_read_tokens` | `cache_read_tokens` (0 when absent) |
public enum OTLPMapping {
    /// The `tool` of every event this mapping makes.
    public static let claudeCodeTool = "claude_code"

    /// What became of one record.
    enum Outcome {
        /// Not an `api_request` (prompts, tool results, …): skipped, not an error.
        case skipped
        case event(OTLPEvent)
        /// An `api_request` that cannot be counted; the event holds whatever was read, for the dead letter.
        case rejected(OTLPEvent, OTLPError)
    }

    static func map(_ record: OTLPLogRecord, resource: OTLPAttributes) -> Outcome {
        guard isAPIRequest(record) else { return .skipped }
        func value(_ key: OTLPAttributeKey) -> OTLPValue? { record.attributes[key] ?? resource[key] }
        func text(_ key: OTLPAttributeKey) -> String? {
            guard let s = value(key)?.text, !s.isEmpty else { return nil }
            return s
        }
        var event = OTLPEvent(eventId: "", timestampMs: 0, tool: claudeCodeTool)
        event.aliases = OTLPAliases(email: text(.userEmail), accountUUID: text(.accountUUID), accountId: text(.accountId),
                                    installId: text(.installId))
        event.userId = event.aliases.email ?? event.aliases.accountUUID
        // Admin-set resource attributes win over anything a record might carry with the same name.
        event.team = resource[.teamId]?.text ?? record.attributes[.teamId]?.text
        event.model = text(.model)
        event.sessionId = text(.sessionId)
        var problem: OTLPError?
        func count(_ key: OTLPAttributeKey, required: Bool) -> Int64 {
            guard let v = value(key) else {
                if required, problem == nil { problem = .missingAttribute(key.name) }
                return 0
            }
            guard let n = v.count(limit: EventDecoder.maxCount) else {
                if problem == nil { problem = .badAttribute(key.name) }
                return 0
            }
            return n
        }
        event.inputTokens = count(.inputTokens, required: true)
        event.outputTokens = count(.outputTokens, required: true)
        event.cacheReadTokens = count(.cacheReadTokens, required: false)
        let nanos = record.timeUnixNano != 0 ? record.timeUnixNano : record.observedTimeUnixNano
        event.timestampMs = Int64(clamping: nanos / 1_000_000)
        if nanos == 0, problem == nil { problem = .noTimestamp }
        event.eventId = text(.requestId) ?? text(.clientRequestId) ?? fallbackId(event)
        if let problem { return .rejected(event, problem) }
        if event.userId == nil { return .rejected(event, .noIdentity) }
        return .event(event)
    }

    private static func isAPIRequest(_ record: OTLPLogRecord) -> Bool {
        if case .string(let name)? = record.attributes[.eventName] {
            return name == "api_request" || name == "claude_code.api_request"
        }
        if let name = record.eventName, !name.isEmpty { return name == "claude_code.api_request" }
        return record.body == "claude_code.api_request"
    }

    /// A stable id for a record without request ids: the same request read from protobuf or JSON,
    /// or delivered twice, gets the same id.
    private static func fallbackId(_ e: OTLPEvent) -> String {
        var key: [UInt8] = []
        for part in [e.userId ?? "", e.model ?? "", e.sessionId ?? "", String(e.timestampMs),
                     String(e.inputTokens), String(e.outputTokens), String(e.cacheReadTokens)] {
            key.append(contentsOf: part.utf8)
            key.append(0)
        }
        let h = key.withUnsafeBytes { ByteHash.hash($0, seed: 0x6f74_6c70) }
        let hex = String(h, radix: 16)
        return "otlp-" + String(repeating: "0", count: 16 - hex.count) + hex
    }
}
