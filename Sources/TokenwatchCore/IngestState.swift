/// Per tool: how many usage events named a person, and how many (and how many tokens) did not.
public struct ToolAttribution: Sendable, Equatable {
    /// Events counted (or kept off boards as a service account's): someone was charged.
    public var attributed = 0
    /// Distinct events no identity resolved: counted here, never ranked.
    public var unattributed = 0
    public var unattributedTokens: Int64 = 0

    public init(attributed: Int = 0, unattributed: Int = 0, unattributedTokens: Int64 = 0) {
        self.attributed = attributed
        self.unattributed = unattributed
        self.unattributedTokens = unattributedTokens
    }

    /// The share of the tool's events that named a person (1 when there were none).
    public var coverage: Double {
        let all = attributed + unattributed
        return all == 0 ? 1 : Double(attributed) / Double(all)
    }
}

/// What the engine keeps about inputs other than its own event (OTLP): attribution per tool, and the
/// de-duplication memory of unattributed events, so a re-sent one is counted once there too.
///
/// Not part of the checkpoint: after a restart these start again from zero, like the process's counters.
public struct IngestState: Sendable {
    /// Attribution by tool name.
    public internal(set) var attribution: [String: ToolAttribution] = [:]
    var unattributedIds: EventIdFilter?
    var unattributedNewest = Int64.min

    public init() {}
}

extension Engine {
    /// Resolves an OTLP event's person through the identities file: the first of its aliases the file
    /// knows decides the person, and the file's team wins over the record's. False when none is known
    /// (the event keeps the identity the mapping found, if any).
    func resolveIdentity(_ event: inout OTLPEvent) -> Bool {
        let directory = configuration.identities
        guard directory.count > 0 else { return false }
        for (kind, alias) in event.aliases.candidates {
            guard let alias, let found = directory.resolve(kind, alias) else { continue }
            event.userId = found.person
            if let team = found.team { event.team = team }
            return true
        }
        return false
    }

    /// Counts a usage event that names nobody, once per event id within the dedup horizon.
    mutating func tallyUnattributed(_ event: OTLPEvent) {
        if ingest.unattributedIds == nil {
            ingest.unattributedIds = EventIdFilter(horizonMs: configuration.dedupHorizonMs, maxIds: configuration.dedupMaxIdsPerPartition)
        }
        let fingerprint = Array(event.eventId.utf8).withUnsafeBytes { EventIdFilter.fingerprint($0) }
        if ingest.unattributedIds!.contains(fingerprint) { return }
        ingest.unattributedIds!.insert(fingerprint, ts: event.timestampMs)
        if event.timestampMs > ingest.unattributedNewest {
            ingest.unattributedNewest = event.timestampMs
            ingest.unattributedIds!.expire(newestTs: event.timestampMs)
        }
        ingest.attribution[event.tool, default: ToolAttribution()].unattributed += 1
        ingest.attribution[event.tool, default: ToolAttribution()].unattributedTokens += event.inputTokens + event.outputTokens
    }

    mutating func tallyAttributed(tool: String) {
        ingest.attribution[tool, default: ToolAttribution()].attributed += 1
    }
}
