/// A usage event read from OTLP logs, before the engine sees it.
public struct OTLPEvent: Sendable, Equatable {
    public var eventId: String
    /// Event time, epoch milliseconds.
    public var timestampMs: Int64
    /// The person charged; nil when the record names nobody (it is then dead-lettered, never ranked).
    public var userId: String?
    public var team: String?
    public var tool: String
    public var model: String?
    public var sessionId: String?
    public var inputTokens: Int64 = 0
    public var outputTokens: Int64 = 0
    public var cacheReadTokens: Int64 = 0
    public var cacheCreationTokens: Int64 = 0
    public var costMicros: Int64?
    /// Claude Code's `query_source`: main, subagent or auxiliary.
    public var agent: String?
    public var entrypoint: String?
    /// Every identity the record carried, for the identities file (`IdentityDirectory`).
    public var aliases = OTLPAliases()
    /// `kind`: `metric` for an event made from an outcome metric point (`OTLPMetricMapping`). The engine
    /// keeps those out of the per-event rules (a 60 s export cadence is not a person's rhythm), knowing
    /// them by where they came from: a native event of kind `metric` is read like any other.
    public var kind: String?
    /// What the usage produced, from the tools' outcome metrics; nil: unknown (not zero).
    public var outcome: OTLPOutcome?

    public init(eventId: String, timestampMs: Int64, userId: String? = nil, team: String? = nil, tool: String,
                model: String? = nil, sessionId: String? = nil) {
        self.eventId = eventId
        self.timestampMs = timestampMs
        self.userId = userId
        self.team = team
        self.tool = tool
        self.model = model
        self.sessionId = sessionId
    }

    /// The event as a tokenwatch input event (CONTRACT.md §1), so it is validated, de-duplicated and
    /// counted by exactly the same code as a native event; `user_id` is left out when unresolved.
    public func json() -> [UInt8] {
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.key("event_id"); w.string(eventId)
        w.key("ts"); w.int(timestampMs)
        if let userId { w.key("user_id"); w.string(userId) }
        if let team { w.key("team"); w.string(team) }
        w.key("tool"); w.string(tool)
        if let model { w.key("model"); w.string(model) }
        if let kind { w.key("kind"); w.string(kind) }
        if let sessionId { w.key("session_id"); w.string(sessionId) }
        w.key("input_tokens"); w.int(inputTokens)
        w.key("output_tokens"); w.int(outputTokens)
        w.key("cache_read_tokens"); w.int(cacheReadTokens)
        if cacheCreationTokens > 0 { w.key("cache_creation_tokens"); w.int(cacheCreationTokens) }
        if let costMicros { w.key("cost_micros"); w.int(costMicros) }
        if let agent { w.key("agent"); w.string(agent) }
        if let entrypoint { w.key("entrypoint"); w.string(entrypoint) }
        outcome?.write(to: &w)
        w.endObject()
        return w.bytes
    }
}

/// The identities one OTLP record carries, each a possible alias of a person.
public struct OTLPAliases: Sendable, Equatable {
    public var email: String?
    public var accountUUID: String?
    public var accountId: String?
    /// `user.id`: a random per-install id, never a person by itself.
    public var installId: String?
    /// `enduser.id` (a GenAI span's resource): the IdP subject an admin set.
    public var subject: String?

    public init(email: String? = nil, accountUUID: String? = nil, accountId: String? = nil, installId: String? = nil,
                subject: String? = nil) {
        self.email = email
        self.accountUUID = accountUUID
        self.accountId = accountId
        self.installId = installId
        self.subject = subject
    }

    /// The identities in the order they are tried against the identities file: the most personal first.
    var candidates: [(IdentityDirectory.Kind, String?)] {
        [(.email, email), (.accountUUID, accountUUID), (.accountId, accountId), (.idpSubject, subject), (.installId, installId)]
    }
}

/// The outcome fields of an event (events.md) that a tool's metrics report; each nil when not reported.
public struct OTLPOutcome: Sendable, Equatable {
    public var accepted: Bool?
    public var linesAdded: Int64?
    public var linesRemoved: Int64?
    public var commits: Int64?
    public var prs: Int64?
    public var humanActiveMs: Int64?
    public var agentActiveMs: Int64?
    public var editsAutoApproved: Int64?

    public init() {}

    /// The `outcome` object (only when one of its keys is known: an empty one would claim reported
    /// outcomes) and the top-level outcome fields of the second round.
    func write(to w: inout JSONWriter) {
        let counts: [(StaticString, Int64?)] = [("lines_added", linesAdded), ("lines_removed", linesRemoved),
                                          ("commits", commits), ("prs", prs)]
        if accepted != nil || counts.contains(where: { $0.1 != nil }) {
            w.key("outcome"); w.beginObject()
            if let accepted { w.key("accepted"); w.bool(accepted) }
            for (key, value) in counts { if let value { w.key(key); w.int(value) } }
            w.endObject()
        }
        let top: [(StaticString, Int64?)] = [("human_active_ms", humanActiveMs), ("agent_active_ms", agentActiveMs),
                                       ("edits_auto_approved", editsAutoApproved)]
        for (key, value) in top { if let value { w.key(key); w.int(value) } }
    }
}
