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
/// Part of the checkpoint (format 6): attribution and metric readings survive a restart.
public struct IngestState: Sendable {
    /// Attribution by tool name.
    public internal(set) var attribution: [String: ToolAttribution] = [:]
    /// The last reading of every OTLP metric series this engine counts (a shard: those of its people).
    public internal(set) var metricDeltas = MetricDeltas()
    /// Per tool, unattributed events per bucket of event time (`bucketMs`): the boards' windowed counts.
    var unattributedBuckets: [String: [Int64: Int]] = [:]
    var unattributedIds: EventIdFilter?
    var unattributedNewest = Int64.min

    public init() {}

    /// Counts an unattributed event unless its id was seen within the dedup horizon.
    mutating func tally(_ r: UnattributedRecord, configuration: EngineConfiguration) {
        if unattributedIds == nil {
            unattributedIds = EventIdFilter(horizonMs: configuration.dedupHorizonMs, maxIds: configuration.dedupMaxIdsPerPartition)
        }
        if unattributedIds!.contains(r.fingerprint) { return }
        unattributedIds!.insert(r.fingerprint, ts: r.ts)
        if r.ts > unattributedNewest {
            unattributedNewest = r.ts
            unattributedIds!.expire(newestTs: r.ts)
        }
        attribution[r.tool, default: ToolAttribution()].unattributed += 1
        attribution[r.tool, default: ToolAttribution()].unattributedTokens += r.tokens
        let size = Self.bucketMs(configuration.windows)
        unattributedBuckets[r.tool, default: [:]][floorDiv(r.ts, size), default: 0] += 1
    }

    /// Per tool, the unattributed events of each window at `asOf` (`adoption.unattributed_events` of the
    /// global boards), tools in name order; empty when there are none in any window.
    func unattributedEvents(windows: [WindowSpec], asOf: Int64) -> [[(tool: String, events: Int)]] {
        guard !unattributedBuckets.isEmpty else { return windows.map { _ in [] } }
        let size = Self.bucketMs(windows)
        let tools = unattributedBuckets.keys.sorted()
        return windows.map { spec in
            let end = spec.end(asOf: asOf), start = end - spec.lengthMs
            return tools.compactMap { tool in
                let n = unattributedBuckets[tool]!.reduce(0) { sum, b in
                    let t = b.key * size
                    return t >= start && t < end ? sum + b.value : sum
                }
                return n > 0 ? (tool, n) : nil
            }
        }
    }

    /// Forgets the buckets no window can reach any more (before the start of the longest at `asOf`).
    mutating func forgetUnattributed(windows: [WindowSpec], asOf: Int64) {
        guard !unattributedBuckets.isEmpty else { return }
        let size = Self.bucketMs(windows)
        let oldest = windows.map { $0.end(asOf: asOf) - $0.lengthMs }.min() ?? asOf
        for tool in unattributedBuckets.keys {
            unattributedBuckets[tool] = unattributedBuckets[tool]!.filter { $0.key * size >= oldest }
            if unattributedBuckets[tool]!.isEmpty { unattributedBuckets[tool] = nil }
        }
    }

    /// The bucket length: the largest that divides every window's length and step, so each bucket lies
    /// wholly inside or wholly outside every window.
    static func bucketMs(_ windows: [WindowSpec]) -> Int64 {
        func gcd(_ a: Int64, _ b: Int64) -> Int64 { b == 0 ? a : gcd(b, a % b) }
        let g = windows.reduce(Int64(0)) { gcd(gcd($0, $1.lengthMs), $1.stepMs) }
        return max(g, 1)
    }
}

/// An OTLP usage event that names nobody, as a shard saw it.
struct UnattributedRecord: Sendable, Equatable {
    var tool: String
    var fingerprint: UInt64
    var ts: Int64
    var tokens: Int64
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

    /// Counts a usage event that names nobody, once per event id within the dedup horizon. A shard hands
    /// it to the sharded engine instead (its copies may come in on other shards' partitions).
    mutating func tallyUnattributed(_ event: OTLPEvent) {
        let record = UnattributedRecord(tool: event.tool, fingerprint: Array(event.eventId.utf8).withUnsafeBytes { EventIdFilter.fingerprint($0) },
                                        ts: event.timestampMs, tokens: event.inputTokens + event.outputTokens)
        if shardRoute != nil {
            unattributedSeen.append(record)
        } else {
            ingest.tally(record, configuration: configuration)
        }
    }

    mutating func tallyAttributed(tool: String) {
        ingest.attribution[tool, default: ToolAttribution()].attributed += 1
    }
}
