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
    case installationId
    case teamId
    case sessionId
    case model
    case inputTokens
    case outputTokens
    case cacheReadTokens
    case requestId
    case clientRequestId
    case eventKind
    case conversationId
    case inputTokenCount
    case outputTokenCount
    case cachedTokenCount
    case cachedContentTokenCount
    case thoughtsTokenCount
    case metricType
    case cacheCreationTokens
    case querySource
    case appEntrypoint
    case costUSD
    case decision
    case decisionSource
    case genAIInputTokens
    case genAIOutputTokens
    case genAIRequestModel
    case genAIResponseModel
    case genAIOperation
    case genAISystem
    case endUserId
    case serviceName

    /// The attribute name as the tool writes it.
    public var name: String {
        switch self {
        case .eventName: "event.name"
        case .userEmail: "user.email"
        case .accountUUID: "user.account_uuid"
        case .accountId: "user.account_id"
        case .installId: "user.id"
        case .installationId: "installation.id"
        case .teamId: "team.id"
        case .sessionId: "session.id"
        case .model: "model"
        case .inputTokens: "input_tokens"
        case .outputTokens: "output_tokens"
        case .cacheReadTokens: "cache_read_tokens"
        case .requestId: "request_id"
        case .clientRequestId: "client_request_id"
        case .eventKind: "event.kind"
        case .conversationId: "conversation.id"
        case .inputTokenCount: "input_token_count"
        case .outputTokenCount: "output_token_count"
        case .cachedTokenCount: "cached_token_count"
        case .cachedContentTokenCount: "cached_content_token_count"
        case .thoughtsTokenCount: "thoughts_token_count"
        case .metricType: "type"
        case .cacheCreationTokens: "cache_creation_tokens"
        case .querySource: "query_source"
        case .appEntrypoint: "app.entrypoint"
        case .costUSD: "cost_usd"
        case .decision: "decision"
        case .decisionSource: "source"
        case .genAIInputTokens: "gen_ai.usage.input_tokens"
        case .genAIOutputTokens: "gen_ai.usage.output_tokens"
        case .genAIRequestModel: "gen_ai.request.model"
        case .genAIResponseModel: "gen_ai.response.model"
        case .genAIOperation: "gen_ai.operation.name"
        case .genAISystem: "gen_ai.system"
        case .endUserId: "enduser.id"
        case .serviceName: "service.name"
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

/// One tool's usage log event: which records, and which attributes hold the event's fields.
struct OTLPToolMapping: Sendable {
    /// The event's `tool`.
    let tool: String
    /// `event.name` values of its usage records (also matched against `LogRecord.event_name` and a string body).
    let eventNames: [String]
    /// Only records whose `event.kind` is this count (Codex's `response.completed` carries the tokens).
    let kind: String?
    let input: OTLPAttributeKey
    /// Summed into `output_tokens`: the first is required, the others are added when present.
    let output: [OTLPAttributeKey]
    let cacheRead: OTLPAttributeKey
    /// Tried in order for `event_id`; without any, a hash of the mapped fields.
    let ids: [OTLPAttributeKey]
    let session: OTLPAttributeKey
}

/// Turns the AI coding tools' usage log records into tokenwatch events: the one table of their names.
///
/// | tool | records | input / output / cache read | event id | session |
/// |---|---|---|---|---|
/// | `claude_code` | `api_request` (`claude_code.api_request`) | `input_tokens` / `output_tokens` / `cache_read_tokens` | `request_id`, `client_request_id` | `session.id` |
/// | `codex` | `codex.sse_event` with `event.kind` = `response.completed` | `input_token_count` / `output_token_count` / `cached_token_count` | (hash) | `conversation.id` |
/// | `gemini_cli` | `gemini_cli.api_response` | `input_token_count` / `output_token_count` + `thoughts_token_count` / `cached_content_token_count` | (hash) | `session.id` |
///
/// Shared by all:
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
    /// The `tool` of Claude Code's events.
    public static let claudeCodeTool = "claude_code"

    /// Every tool's usage event, in the order records are matched against them.
    static let tools: [OTLPToolMapping] = [
        OTLPToolMapping(tool: claudeCodeTool, eventNames: ["api_request", "claude_code.api_request"], kind: nil,
                        input: .inputTokens, output: [.outputTokens], cacheRead: .cacheReadTokens,
                        ids: [.requestId, .clientRequestId], session: .sessionId),
        OTLPToolMapping(tool: "codex", eventNames: ["codex.sse_event"], kind: "response.completed",
                        input: .inputTokenCount, output: [.outputTokenCount], cacheRead: .cachedTokenCount,
                        ids: [], session: .conversationId),
        // Gemini bills thinking as output: thoughts_token_count is not part of output_token_count.
        OTLPToolMapping(tool: "gemini_cli", eventNames: ["gemini_cli.api_response"], kind: nil,
                        input: .inputTokenCount, output: [.outputTokenCount, .thoughtsTokenCount], cacheRead: .cachedContentTokenCount,
                        ids: [], session: .sessionId),
    ]

    /// What became of one record.
    enum Outcome {
        /// Not an `api_request` (prompts, tool results, …): skipped, not an error.
        case skipped
        case event(OTLPEvent)
        /// An `api_request` that cannot be counted; the event holds whatever was read, for the dead letter.
        case rejected(OTLPEvent, OTLPError)
    }

    static func map(_ record: OTLPLogRecord, resource: OTLPAttributes) -> Outcome {
        guard let tool = usageMapping(of: record) else { return .skipped }
        func value(_ key: OTLPAttributeKey) -> OTLPValue? { record.attributes[key] ?? resource[key] }
        func text(_ key: OTLPAttributeKey) -> String? {
            guard let s = value(key)?.text, !s.isEmpty else { return nil }
            return s
        }
        var event = OTLPEvent(eventId: "", timestampMs: 0, tool: tool.tool)
        readIdentity(into: &event, record: record.attributes, resource: resource)
        event.sessionId = text(tool.session)
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
        event.inputTokens = count(tool.input, required: true)
        event.outputTokens = tool.output.enumerated().reduce(0) { $0 + count($1.element, required: $1.offset == 0) }
        event.cacheReadTokens = count(tool.cacheRead, required: false)
        readOptional(into: &event, text: text, value: value)
        let nanos = record.timeUnixNano != 0 ? record.timeUnixNano : record.observedTimeUnixNano
        event.timestampMs = Int64(clamping: nanos / 1_000_000)
        if nanos == 0, problem == nil { problem = .noTimestamp }
        event.eventId = tool.ids.lazy.compactMap { text($0) }.first ?? fallbackId(event)
        if let problem { return .rejected(event, problem) }
        if event.userId == nil { return .rejected(event, .noIdentity) }
        return .event(event)
    }

    /// The fields every signal reads alike: the aliases (for the identities file), the person they name
    /// without the file (`user.email`, else `user.account_uuid`), the team, the model and `session.id`.
    static func readIdentity(into event: inout OTLPEvent, record: OTLPAttributes, resource: OTLPAttributes) {
        func text(_ key: OTLPAttributeKey) -> String? {
            guard let s = (record[key] ?? resource[key])?.text, !s.isEmpty else { return nil }
            return s
        }
        event.aliases = OTLPAliases(email: text(.userEmail), accountUUID: text(.accountUUID), accountId: text(.accountId),
                                    installId: text(.installId) ?? text(.installationId))
        event.userId = event.aliases.email ?? event.aliases.accountUUID
        // Admin-set resource attributes win over anything a record might carry with the same name.
        event.team = resource[.teamId]?.text ?? record[.teamId]?.text
        event.model = text(.model)
        event.sessionId = text(.sessionId)
    }

    /// Claude Code's optional fields (events.md): absent attributes stay unknown; a bad one is left out
    /// rather than refusing a usage record whose tokens are fine.
    private static func readOptional(into event: inout OTLPEvent, text: (OTLPAttributeKey) -> String?,
                                     value: (OTLPAttributeKey) -> OTLPValue?) {
        event.cacheCreationTokens = value(.cacheCreationTokens)?.count(limit: EventDecoder.maxCount) ?? 0
        event.agent = text(.querySource).flatMap { $0.utf8.count <= 256 ? $0 : nil }
        event.entrypoint = text(.appEntrypoint).flatMap { $0.utf8.count <= 256 ? $0 : nil }
        let usd: Double? = switch value(.costUSD) {
        case .double(let d)?: d
        case .string(let s)?: Double(s)
        case .int(let i)?: Double(i)
        default: nil
        }
        if let usd, usd.isFinite, usd >= 0, usd * 1_000_000 <= Double(EventDecoder.maxCount) {
            event.costMicros = Int64((usd * 1_000_000).rounded())
        }
    }

    /// The tool whose usage event `record` is; nil for every other record (prompts, tool results, …).
    private static func usageMapping(of record: OTLPLogRecord) -> OTLPToolMapping? {
        let name: String?
        if case .string(let n)? = record.attributes[.eventName] {
            name = n
        } else if let n = record.eventName, !n.isEmpty {
            name = n
        } else {
            name = record.body
        }
        guard let name, let tool = tools.first(where: { $0.eventNames.contains(name) }) else { return nil }
        if let kind = tool.kind, record.attributes[.eventKind]?.text != kind { return nil }
        return tool
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

/// GenAI semantic-convention spans (Copilot Chat, Copilot CLI, any OpenTelemetry GenAI instrumentation)
/// → tokenwatch events: the table of their names.
///
/// | event field | from |
/// |---|---|
/// | (which spans) | spans with `gen_ai.usage.input_tokens` or `gen_ai.usage.output_tokens`, whose `gen_ai.operation.name` is absent or an inference (`chat`, `text_completion`, `generate_content`, `embeddings`); `invoke_agent` and `execute_tool` spans are skipped: an agent span sums its inference spans' tokens, which count on their own |
/// | `event_id` | `span-` + trace id + `-` + span id (hex): the span's identity, so a re-sent span counts once |
/// | `ts` | `start_time_unix_nano`, else `end_time_unix_nano`, in ms |
/// | `user_id` | resource attributes only (what the admin set): the identities file's person for `user.email` or `enduser.id`, else `user.email`, else `enduser.id`, else unresolved (`otlp:no_identity`) |
/// | `team` | resource `team.id` |
/// | `tool` | resource `service.name`, else `genai` |
/// | `model` | `gen_ai.response.model`, else `gen_ai.request.model` |
/// | `input_tokens`, `output_tokens` | `gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens` (both required once one is there) |
extension OTLPMapping {
    /// `gen_ai.operation.name` values whose spans are one model call each.
    static let inferenceOperations: Set<String> = ["chat", "text_completion", "generate_content", "embeddings"]
    /// The `tool` of spans whose resource has no `service.name`.
    public static let genAITool = "genai"

    static func map(span: OTLPSpan, resource: OTLPAttributes) -> Outcome {
        let a = span.attributes
        guard a[.genAIInputTokens] != nil || a[.genAIOutputTokens] != nil else { return .skipped }
        if let op = a[.genAIOperation]?.text, !inferenceOperations.contains(op) { return .skipped }
        func resourceText(_ key: OTLPAttributeKey) -> String? {
            guard let s = resource[key]?.text, !s.isEmpty else { return nil }
            return s
        }
        var event = OTLPEvent(eventId: "span-\(span.traceId)-\(span.spanId)", timestampMs: 0,
                              tool: resourceText(.serviceName) ?? genAITool)
        // Identity from the resource only: a span's own attributes are the application's, not the admin's.
        event.aliases = OTLPAliases(email: resourceText(.userEmail), subject: resourceText(.endUserId))
        event.userId = event.aliases.email ?? event.aliases.subject
        event.team = resourceText(.teamId)
        event.model = [a[.genAIResponseModel], a[.genAIRequestModel]].lazy.compactMap { $0?.text }.first { !$0.isEmpty }
        let nanos = span.startTimeUnixNano != 0 ? span.startTimeUnixNano : span.endTimeUnixNano
        event.timestampMs = Int64(clamping: nanos / 1_000_000)
        var problem: OTLPError?
        for (key, set) in [(OTLPAttributeKey.genAIInputTokens, \OTLPEvent.inputTokens), (.genAIOutputTokens, \OTLPEvent.outputTokens)] {
            guard let v = a[key] else { problem = problem ?? .missingAttribute(key.name); continue }
            guard let n = v.count(limit: EventDecoder.maxCount) else { problem = problem ?? .badAttribute(key.name); continue }
            event[keyPath: set] = n
        }
        if span.traceId.isEmpty || span.spanId.isEmpty { problem = problem ?? .missingAttribute("span_id") }
        if nanos == 0 { problem = problem ?? .noTimestamp }
        if let problem { return .rejected(event, problem) }
        if event.userId == nil { return .rejected(event, .noIdentity) }
        return .event(event)
    }
}
