/// A message the engine wants published.
public struct OutputRecord: Sendable, Equatable {
    /// Which output topic it belongs on.
    public enum Kind: Sendable, Equatable { case leaderboard, alert, deadLetter }
    public var kind: Kind
    public var key: [UInt8]?
    public var value: [UInt8]
    /// The event time the record speaks for (a board's `as_of`), when it has one.
    public var eventTime: Int64? = nil
    /// An alert's place among the alerts of its snapshot time (with its key, the user), so alerts
    /// from several engine shards merge into the order one engine gives.
    public var order: AlertOrder? = nil
}

/// Where an alert falls among those of one snapshot time: by step phase, then time, rule and user.
public struct AlertOrder: Sendable, Equatable, Comparable {
    /// 1 per-event findings, 2 peer rules, 3 weekly rules, 4 resolutions.
    public var phase: UInt8
    /// The finding's event time (phase 1) or the week's cutoff (phase 3); 0 otherwise.
    public var time: Int64
    public var rule: UInt8

    public static func < (a: AlertOrder, b: AlertOrder) -> Bool {
        (a.phase, a.time, a.rule) < (b.phase, b.time, b.rule)
    }
}

/// What became of one input message.
public enum ProcessResult: Sendable, Equatable {
    /// Counted (now, or queued to count at its partition's watermark).
    case counted
    /// Counted as service-account usage: kept off people's boards.
    case service
    /// A repeated `event_id` within the dedup horizon.
    case duplicate
    /// Sent to the dead letter.
    case deadLetter(DeadLetterReason)
    /// Already reflected in restored state (offset below the partition's checkpointed position).
    case alreadyProcessed
    /// Admitted, and handed to the engine shard that owns its user (which counts it, or finds a copy).
    case forwarded
}

/// Running counts of what the engine did.
public struct EngineCounters: Sendable, Equatable {
    public init() {}
    public var counted = 0
    public var service = 0
    public var duplicates = 0
    public var deadLetters: [String: Int] = [:]
    public var snapshots = 0
    public var alreadyProcessed = 0
    /// Valid events whose message key was not their `user_id` (since this engine started; not checkpointed).
    public var unkeyed = 0
    /// Ids given back by users silent longer than the known-users window (since start; not checkpointed).
    public var releasedUsers = 0
    public var deadLetterTotal: Int { deadLetters.values.reduce(0, +) }
}

/// The pure tokenwatch engine: decode → dedup → watermarks → windows → rules → leaderboards and alerts.
///
/// It performs no I/O and reads no clock: the caller passes messages in per-partition order,
/// says which partitions are idle, and drains `outbox`. The same messages in the same
/// per-partition order give byte-identical outputs, however partitions are interleaved,
/// as long as no partition is declared idle.
public struct Engine: Sendable {
    /// An accepted event waiting for the global watermark to reach its partition's watermark.
    struct PendingEvent: Sendable {
        var user: UInt32
        var team: UInt32
        var ts: Int64
        var tokens: Int64
        var outcomes: UInt32
        var releaseAt: Int64
        /// Whether the tool reported an outcome (see `unreported`).
        var reported = true
    }

    /// Per-partition progress and de-duplication memory.
    struct PartitionState: Sendable {
        var newestTs = Int64.min
        var firstTs = Int64.min
        var nextOffset: Int64 = -1
        var filter: EventIdFilter
        var pending: [PendingEvent] = []
        var pendingHead = 0
    }

    /// Replaced only through `reconfigure(_:)` (SIGHUP reload), which keeps the structural fields.
    /// Without a message timestamp, an event this far past the newest accepted one is refused (30 days).
    public static let unreferencedFutureLimitMs: Int64 = 30 * 86_400_000

    public internal(set) var configuration: EngineConfiguration
    public let inputTopic: String
    /// Per engine partition id, the input topic and partition it reads (dead letters name them); empty
    /// for one input (see `source(of:)`).
    public var partitionSources: [PartitionSource] = []
    /// Attribution per tool and other state of the non-native inputs (see `IngestState`).
    public internal(set) var ingest = IngestState()
    var decoder: EventDecoder
    public internal(set) var users = Interner(capacity: 4096)
    public internal(set) var teams = Interner(capacity: 64)
    var userIsService: [Bool] = []
    /// Per-user suspicion in [0, 1]; the detection rules set it at snapshot boundaries.
    public var suspicion: [Double] = []
    /// The tokenmaxxing rules and their per-user state.
    public internal(set) var detector: Detector
    var partitions = PartitionTable()
    public internal(set) var windows: [SlidingWindow]
    var known: SlidingWindow
    /// Per window, the same counts of only the events whose tool reported no outcome (rare), so the rules
    /// that compare outcomes per token compare reported usage only (a missing outcome is unknown, not zero).
    var unreported: [SlidingWindow]
    /// The last snapshot time emitted; nil until the first watermark is known.
    public internal(set) var lastSnapshotAt: Int64?
    public internal(set) var watermark = Int64.min
    var newestAccepted = Int64.min
    var knownPerTeam: [UInt32: Int] = [:]
    /// The merged boards of each window at the last snapshot (before the privacy stage), reused while nothing changed.
    var cachedBoards: [[LeaderboardSnapshot]]
    /// The boards as last published, serialised (see `PublishedBoards`).
    var published = PublishedBoards()
    /// This engine's partial boards of each window at the last snapshot (nil: build at the next one).
    var cachedPartials: [[PartialBoard]?]
    /// Per window, the boards' incremental ranking (derived state, not checkpointed).
    var rankings: [BoardRanking] = []
    /// Per window and ranking scope (0 global, team + 1), the partial board last built for it.
    var scopePartials: [[ScopeBoard?]] = []
    /// Per user, the team `knownPerTeam` counts them in (-1: not a known user).
    var knownTeamCounted: [Int32] = []
    public internal(set) var counters = EngineCounters()
    /// Event ids of events not keyed by their `user_id`, across partitions (see `process`).
    var unkeyedIds: EventIdFilter
    /// The newest event time among them (kept for the checkpoint format; memory expires behind snapshot times).
    var unkeyedNewest = Int64.min
    /// With several shards: which one this is, and how users map to shards.
    public var shardRoute: ShardRoute?
    /// Events admitted here for users of other shards, until `takeForwards()`.
    var forwards: [ForwardedEvent] = []
    /// With shards: unattributed OTLP events seen here, for the sharded engine to de-duplicate and count.
    var unattributedSeen: [UnattributedRecord] = []
    /// With shards: the metric point whose event is being admitted; it goes to its user's shard even when
    /// that is this one, to be made a delta there after every message before it (see `Engine+OTLPMetrics`).
    var deferringMetric: OTLPMetricPoint?
    /// Set while an event made from an OTLP metric point is counted (it skips the per-event rules).
    var countingMetric = false
    /// Set while an OTLP event is counted: a forwarded one is attributed to its tool where it counts.
    var attributing = false
    /// Forwarded late events waiting for their release time.
    var forwardedPending: [PendingEvent] = []
    /// Records produced since the last `takeOutputs()`.
    public internal(set) var outbox: [OutputRecord] = []
    var servicePatterns: [GlobPattern]
    let unassignedTeam: UInt32

    public init(configuration: EngineConfiguration, inputTopic: String = "ai-usage") {
        self.configuration = configuration
        self.inputTopic = inputTopic
        decoder = EventDecoder(maxMessageBytes: configuration.maxMessageBytes)
        windows = configuration.windows.map { SlidingWindow(spec: $0) }
        unreported = configuration.windows.map { SlidingWindow(spec: $0) }
        let longest = configuration.windows.map(\.lengthMs).max() ?? 0
        let day: Int64 = 86_400_000
        let knownLength = (max(configuration.knownUsersHorizonMs, longest) + day - 1) / day * day
        known = SlidingWindow(spec: WindowSpec(name: "known", lengthMs: knownLength, stepMs: Self.knownStepMs(configuration.windows)))
        cachedBoards = Array(repeating: [], count: configuration.windows.count)
        cachedPartials = Array(repeating: nil, count: configuration.windows.count)
        servicePatterns = configuration.serviceAccountPatterns.map(GlobPattern.init)
        unassignedTeam = teams.intern("unassigned")
        detector = Detector(configuration: configuration.detection, snapshotIntervalMs: configuration.snapshotIntervalMs)
        unkeyedIds = EventIdFilter(horizonMs: configuration.dedupHorizonMs, maxIds: configuration.dedupMaxIdsPerPartition)
        resetRankings()
        trackChangedUsers()
        trackVacatedUsers()
    }

    /// Takes new rule settings (SIGHUP) without losing any state.
    public mutating func reconfigureRules(_ detection: DetectionConfiguration) {
        detector.reconfigure(detection)
        resetRankings()
    }

    // MARK: - Partitions

    /// Declares the partitions whose watermarks the engine waits for (the consumer's assignment).
    public mutating func assign(partitions ids: [Int32]) {
        for id in ids where partitions[id] == nil { partitions[id] = newPartition() }
    }

    /// Forgets partitions no longer assigned (their users' state stays until it ages out).
    public mutating func revoke(partitions ids: [Int32]) {
        for id in ids { partitions[id] = nil }
    }

    /// The partitions the engine knows, with the next offset it expects from each (-1 = none yet).
    public var positions: [Int32: Int64] { partitions.mapValues(\.nextOffset) }

    /// The newest accepted event time of each partition (Int64.min when none).
    public var partitionNewest: [Int32: Int64] { partitions.mapValues(\.newestTs) }

    private func newPartition() -> PartitionState {
        PartitionState(filter: EventIdFilter(horizonMs: configuration.dedupHorizonMs, maxIds: configuration.dedupMaxIdsPerPartition))
    }

    // MARK: - Events

    /// Takes one message of the input topic. `receivedAtMs` only labels dead letters.
    ///
    /// `referenceTimeMs` is the message's Kafka timestamp (when it was produced): an event more than
    /// `max_future_skew` ahead of it is dead-lettered `future_timestamp`. Measuring against the
    /// message rather than the partition's newest event time keeps legitimate traffic after a quiet
    /// night from being rejected, and gives the live daemon and a topic replay the same answer.
    /// Messages without a timestamp (file replays) are not checked.
    ///
    /// With `key` (the message key; empty when the message has none), an event whose key is not its
    /// `user_id` is also de-duplicated against every other such event, whatever partition it came from:
    /// a producer that does not key by user (null keys, round robin) can spread one event's copies over
    /// several partitions, and per-partition memory would count each. It counts in the partition it came
    /// in (its event time holds that partition's watermark like any other). With nil, keys are not checked.
    @discardableResult
    public mutating func process(_ payload: UnsafeRawBufferPointer, partition: Int32, offset: Int64,
                                 receivedAtMs: Int64 = 0, referenceTimeMs: Int64? = nil,
                                 checkingKey key: UnsafeRawBufferPointer? = nil) -> ProcessResult {
        guard takeOffset(partition: partition, offset: offset) else { return .alreadyProcessed }
        return processEvent(payload, partition: partition, offset: offset, receivedAtMs: receivedAtMs,
                            referenceTimeMs: referenceTimeMs, checkingKey: key)
    }

    /// Moves the partition's position past `offset`; false (and counted) when restored state already holds it.
    mutating func takeOffset(partition: Int32, offset: Int64) -> Bool {
        if !partitions.exists(partition) { partitions[partition] = newPartition() }
        if offset < partitions.nextOffset(partition) {
            counters.alreadyProcessed += 1
            return false
        }
        partitions.withState(partition) { $0.nextOffset = offset + 1 }
        return true
    }

    /// Decodes and counts one event of a message whose offset has been taken (an OTLP message holds many).
    mutating func processEvent(_ payload: UnsafeRawBufferPointer, partition: Int32, offset: Int64,
                               receivedAtMs: Int64, referenceTimeMs: Int64?,
                               checkingKey key: UnsafeRawBufferPointer?) -> ProcessResult {
        var event: DecodedEvent
        do {
            event = try decoder.decode(payload)
        } catch {
            return deadLetter(error, payload, partition, offset, receivedAtMs)
        }
        resolveNativeIdentity(&event)
        var admission: ForwardedEvent.Admission? = nil
        let result = accept(event, partition: partition, referenceTimeMs: referenceTimeMs, key: key, forwarding: &admission)
        if case .deadLetter(let reason) = result {
            return deadLetter(reason, payload, partition, offset, receivedAtMs)
        }
        if let admission {
            forwards.append(ForwardedEvent(payload: Array(payload), partition: partition, offset: offset,
                                           receivedAtMs: receivedAtMs, admission: admission, attributed: attributing,
                                           metric: deferringMetric))
        }
        return result
    }

    private mutating func accept(_ event: DecodedEvent, partition p: Int32, referenceTimeMs: Int64?,
                                 key: UnsafeRawBufferPointer?, forwarding: inout ForwardedEvent.Admission?) -> ProcessResult {
        let ts = event.ts
        let partitionNewest = partitions.newestTs(p)
        if let reference = referenceTimeMs, reference > 0 {
            if ts > reference &+ configuration.maxFutureSkewMs { return .deadLetter(.futureTimestamp) }
        } else if newestAccepted != .min, ts > newestAccepted &+ max(configuration.maxFutureSkewMs, Self.unreferencedFutureLimitMs) {
            // Without a message timestamp only an absurd jump is refused: one far-future line must
            // not move every watermark (and every window) years ahead.
            return .deadLetter(.futureTimestamp)
        }
        let fingerprint = decoder.withBytes(event.eventId) { EventIdFilter.fingerprint($0) }
        if partitions.remembers(p, fingerprint) {
            counters.duplicates += 1
            return .duplicate
        }
        var owner: Int? = nil
        if let key, !decoder.withBytes(event.userId, { Self.same($0, key) }) {
            // Another shard may own this user: it de-duplicates the event against every copy.
            if let route = shardRoute {
                let home = decoder.withBytes(event.userId) { route.shard(ofUser: $0) }
                if home != route.index || deferringMetric != nil { owner = home }
            }
            if owner == nil && !rememberUnkeyed(fingerprint, ts: ts) {
                // A copy that came in on another partition: this partition has still been read up to its
                // time, or a partition holding only copies would hold every board back.
                partitions.withState(p) { state in
                    if ts > state.newestTs { state.newestTs = ts; state.filter.expire(newestTs: ts) }
                    if state.firstTs == .min { state.firstTs = ts }
                }
                counters.duplicates += 1
                return .duplicate
            }
        }

        let partitionWatermark = partitionNewest == .min ? Int64.min : partitionNewest - configuration.allowedLatenessMs
        let isLate = ts < partitionWatermark
        let releaseAt = partitionWatermark
        if isLate {
            // It may only count in snapshots after its partition's watermark, so it counts
            // identically however partitions interleave; if no window could take it then, it is late.
            let next = (floorDiv(releaseAt, configuration.snapshotIntervalMs) + 1) * configuration.snapshotIntervalMs
            let counts = windows.contains { w in ts >= w.spec.end(asOf: next) - w.spec.lengthMs }
            if !counts { return .deadLetter(.late) }
        }

        partitions.withState(p) { state in
            state.filter.insert(fingerprint, ts: ts)
            if ts > partitionNewest {
                state.newestTs = ts
                state.filter.expire(newestTs: ts)
            }
            if state.firstTs == .min { state.firstTs = ts }
        }
        if ts > newestAccepted { newestAccepted = ts }
        if let owner {
            forwarding = ForwardedEvent.Admission(releaseAt: releaseAt, isLate: isLate, shard: owner)
            return .forwarded
        }
        return count(event, releaseAt: releaseAt, isLate: isLate, partition: p)
    }

    /// Remembers an event not keyed by its user; false when a copy was already counted.
    mutating func rememberUnkeyed(_ fingerprint: UInt64, ts: Int64) -> Bool {
        if unkeyedIds.contains(fingerprint) { return false }
        counters.unkeyed += 1
        unkeyedIds.insert(fingerprint, ts: ts)
        unkeyedNewest = max(unkeyedNewest, ts)
        return true
    }

    /// Counts an admitted event for its user: windows now, or at its release when late (queued on its
    /// partition, or with the forwarded events when `partition` is nil), and the per-event rules.
    mutating func count(_ event: DecodedEvent, releaseAt: Int64, isLate: Bool, partition p: Int32?) -> ProcessResult {
        let ts = event.ts
        let user = decoder.withBytes(event.userId) { users.intern($0) }
        if user.isNew { registerUser(user.id) }
        let isService = userIsService[Int(user.id)] || decoder.withBytes(event.source) { Self.isCI($0) }
        if isService {
            counters.service += 1
            return .service
        }
        let team = event.team.isPresent ? decoder.withBytes(event.team) { teams.intern($0).id } : unassignedTeam
        // An edit applied by configuration or a hook is not a person's acceptance (docs/events.md).
        let accepted = event.accepted == true && (event.editsAutoApproved ?? 0) == 0
        let outcomeUnits = (accepted ? 1 : 0) + event.commits + event.prs
        // An event that reports none of accepted, lines, commits or PRs has unknown outcomes, not zero.
        let reported = event.accepted != nil || event.linesAdded > 0 || event.linesRemoved > 0 || event.commits > 0 || event.prs > 0
        let pending = PendingEvent(user: user.id, team: team, ts: ts, tokens: event.tokens,
                                   outcomes: UInt32(clamping: outcomeUnits), releaseAt: releaseAt, reported: reported)
        // Late events wait for the snapshot after their partition's watermark, even before the first
        // snapshot, so they count identically however partitions interleave.
        if isLate, lastSnapshotAt.map({ releaseAt >= $0 }) ?? true {
            if let p { partitions.withState(p) { $0.pending.append(pending) } } else { forwardedPending.append(pending) }
        } else {
            if !windows.contains(where: { $0.accepts(ts) }) { return .deadLetter(.late) }
            apply(pending)
        }
        // Metric-made events come at the exporter's interval, not a person's: the per-event rules
        // (cadence above all) would read that rhythm as a machine's. Their outcomes still reach windows.
        // Decided by where the event came from, never by its `kind`, which any producer could write.
        if detector.perEvent && !countingMetric {
            var o = Detector.Observed(outcomes: pending.outcomes, inputTokens: UInt32(clamping: event.inputTokens),
                                      accepted: accepted,
                                      lines: UInt32(clamping: event.linesAdded + event.linesRemoved), reported: pending.reported)
            if let human = event.humanActiveMs, let agent = event.agentActiveMs { o.presence = (human, agent) }
            if event.promptHash.count > 0 { o.prompt = decoder.withBytes(event.promptHash) { DuplicatePromptsRule.fingerprint($0) } }
            detector.observe(user: user.id, team: team, ts: ts, tokens: event.tokens, o, releaseAt: max(ts, releaseAt))
        }
        counters.counted += 1
        return .counted
    }

    /// Counts an event another shard admitted for a user this shard owns (see `ForwardedEvent`).
    public mutating func receive(_ f: ForwardedEvent) {
        if let point = f.metric {
            receiveMetric(f, point)
            return
        }
        f.payload.withUnsafeBytes { payload in
            guard var event = try? decoder.decode(payload) else { return }  // it decoded where it came in
            resolveNativeIdentity(&event)
            let fingerprint = decoder.withBytes(event.eventId) { EventIdFilter.fingerprint($0) }
            guard rememberUnkeyed(fingerprint, ts: event.ts) else {
                counters.duplicates += 1
                return
            }
            switch count(event, releaseAt: f.admission.releaseAt, isLate: f.admission.isLate, partition: nil) {
            case .deadLetter(let reason):
                _ = deadLetter(reason, payload, f.partition, f.offset, f.receivedAtMs)
            case .counted, .service:
                if f.attributed { tallyAttributed(tool: decoder.withBytes(event.tool) { String(decoding: $0, as: UTF8.self) }) }
            default:
                break
            }
        }
    }

    /// An alias in a native event's `user_id` (an e-mail, a login, an API-key name, …) becomes the person
    /// the identities file names, with their team when the file gives one, before anything is counted
    /// or routed by user. Nothing happens (nor is looked up) without an identities file.
    @inline(__always) mutating func resolveNativeIdentity(_ event: inout DecodedEvent) {
        guard configuration.identities.count > 0,
              let found = decoder.withBytes(event.userId, { configuration.identities.resolveNative($0) }) else { return }
        event.userId = decoder.substitute(found.person)
        if let team = found.team { event.team = decoder.substitute(team) }
    }

    /// Hands over the events admitted here for users other shards own.
    public mutating func takeForwards() -> [ForwardedEvent] {
        defer { forwards.removeAll(keepingCapacity: true) }
        return forwards
    }

    /// Counts the forwarded late events whose release time `asOf` has passed.
    private mutating func releaseForwarded(before asOf: Int64) {
        guard !forwardedPending.isEmpty else { return }
        var keep: [PendingEvent] = []
        for e in forwardedPending {
            if e.releaseAt < asOf { apply(e) } else { keep.append(e) }
        }
        forwardedPending = keep
    }

    private static func same(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        for i in 0..<a.count where a[i] != b[i] { return false }
        return true
    }

    private static func isCI(_ b: UnsafeRawBufferPointer) -> Bool {
        b.count == 2 && b[0] == UInt8(ascii: "c") && b[1] == UInt8(ascii: "i")
    }

    private mutating func registerUser(_ id: UInt32) {
        let isService = users.withBytes(id) { name in name.withUnsafeBytes { raw in servicePatterns.contains { $0.matches(raw) } } }
        if Int(id) < userIsService.count {  // a released id handed out again: its slots were reset
            userIsService[Int(id)] = isService
            return
        }
        userIsService.append(isService)
        suspicion.append(0)
        detector.ensureUser(id)
    }

    @inline(__always) private mutating func apply(_ e: PendingEvent) {
        for i in windows.indices {
            windows[i].add(user: e.user, team: e.team, ts: e.ts, tokens: e.tokens, outcomes: e.outcomes)
        }
        known.add(user: e.user, team: e.team, ts: e.ts, tokens: e.tokens, outcomes: e.outcomes)
        if !e.reported {
            for i in unreported.indices {
                unreported[i].add(user: e.user, team: e.team, ts: e.ts, tokens: e.tokens, outcomes: e.outcomes)
            }
        }
        detector.tally(user: e.user, ts: e.ts, tokens: e.tokens, outcomes: e.outcomes)
    }

    mutating func deadLetter(_ reason: DeadLetterReason, _ payload: UnsafeRawBufferPointer, _ partition: Int32,
                             _ offset: Int64, _ receivedAt: Int64) -> ProcessResult {
        counters.deadLetters[reason.description, default: 0] += 1
        // Above the cap only a prefix is kept, so the record always fits what the producer accepts;
        // the digest of the whole payload still identifies it.
        let cap = max(configuration.deadLetterPayloadCap, 0)
        let truncated = payload.count > cap
        let kept = truncated ? UnsafeRawBufferPointer(rebasing: payload[0..<cap]) : payload
        let source = source(of: partition)
        var w = JSONWriter(capacity: 300 + source.topic.utf8.count + (kept.count + 2) / 3 * 4)
        w.beginObject()
        w.key("schema"); w.string("tokenwatch.deadletter.v1")
        w.key("reason"); w.string(reason.description)
        w.key("topic"); w.string(source.topic)
        w.key("partition"); w.int(Int64(source.partition))
        w.key("offset"); w.int(offset)
        w.key("received_at"); w.int(receivedAt)
        w.key("payload_base64"); w.string(bytes: Base64.encode(kept))
        w.key("payload_bytes"); w.int(payload.count)
        if truncated {
            w.key("truncated"); w.bool(true)
            w.key("payload_sha256"); w.string(SHA256.hex(SHA256.hash(payload)))
        }
        w.endObject()
        outbox.append(OutputRecord(kind: .deadLetter, key: nil, value: w.bytes))
        return .deadLetter(reason)
    }

    /// Hands over and clears the records produced so far.
    public mutating func takeOutputs() -> [OutputRecord] {
        defer { outbox.removeAll(keepingCapacity: true) }
        return outbox
    }

    // MARK: - Watermark and snapshots

    /// The engine watermark: the minimum partition watermark over partitions not in `idle`.
    /// When every partition is idle, the highest partition watermark plus `quietAdvanceMs`
    /// (live mode passes the wall-clock time since they went quiet; replay passes 0 at the end).
    public func currentWatermark(idle: Set<Int32> = [], quietAdvanceMs: Int64 = 0) -> Int64? {
        Self.watermark(partitions.map { ($0.key, $0.value.newestTs) }, idle: idle, quietAdvanceMs: quietAdvanceMs,
                       allowedLatenessMs: configuration.allowedLatenessMs)
    }

    /// The watermark of partitions with these newest event times (`Int64.min`: none yet); see `currentWatermark`.
    static func watermark(_ newest: [(id: Int32, newestTs: Int64)], idle: Set<Int32>, quietAdvanceMs: Int64,
                          allowedLatenessMs: Int64) -> Int64? {
        var minimum = Int64.max
        var anyActive = false
        var highest = Int64.min
        for (id, ts) in newest {
            let wm = ts == .min ? Int64.min : ts - allowedLatenessMs
            highest = max(highest, wm)
            if idle.contains(id) { continue }
            anyActive = true
            if ts == .min { return nil }
            minimum = min(minimum, wm)
        }
        if anyActive { return minimum }
        return highest == .min ? nil : highest + quietAdvanceMs
    }

    /// The earliest first event time over the partitions (where the first snapshot interval starts).
    var firstEventTime: Int64? {
        partitions.values.map(\.firstTs).filter { $0 != .min }.min()
    }

    /// Emits every snapshot whose time the watermark has passed. Returns how many times were emitted.
    @discardableResult
    public mutating func emitDueSnapshots(idle: Set<Int32> = [], quietAdvanceMs: Int64 = 0) -> Int {
        guard let w = currentWatermark(idle: idle, quietAdvanceMs: quietAdvanceMs) else { return 0 }
        watermark = max(watermark, w)
        let interval = configuration.snapshotIntervalMs
        if lastSnapshotAt == nil {
            guard let first = firstEventTime else { return 0 }
            lastSnapshotAt = floorDiv(first, interval) * interval
        }
        var emitted = 0
        while lastSnapshotAt! + interval <= watermark {
            emitSnapshot(asOf: lastSnapshotAt! + interval, previous: lastSnapshotAt!)
            emitted += 1
        }
        return emitted
    }

    /// Runs the rules at `asOf` (the previous snapshot time was `previous`), then builds and emits
    /// the boards of every window and scope, which carry the resulting flags and suspicion.
    mutating func emitSnapshot(asOf: Int64, previous: Int64) {
        beginSnapshot(asOf: asOf)
        var references: [Int: PeerReference] = [:]
        for i in peerWindowsDue(asOf: asOf, previous: previous) {
            references[i] = PeerReference(samples: [peerSample(window: i)])
        }
        finishSnapshot(asOf: asOf, previous: previous, peerReferences: references)
        var anyChanged = false
        for i in windows.indices {
            let (changed, partials) = partialBoards(window: i)
            if changed || cachedBoards[i].isEmpty {
                let merged = BoardMerge.merge([partials], window: windows[i].spec.name,
                                              rankBy: configuration.rankBy, topK: configuration.topK)
                cachedBoards[i] = applyRoster(merged, tallies: [rosterTally(window: i)], window: i)
                anyChanged = true
            }
        }
        publish(cachedBoards, changed: anyChanged, into: &published, asOf: asOf, to: &outbox, unattributed: ingest)
        ingest.forgetUnattributed(windows: configuration.windows, asOf: asOf)
        completeSnapshot(asOf: asOf)
    }

    /// A snapshot's first step: late events whose partitions have passed them are counted, and the
    /// windows move to `asOf`.
    mutating func beginSnapshot(asOf: Int64) {
        releasePending(before: asOf)
        // Copies of an unkeyed event can come on any partition, so its memory may only age out behind
        // the slowest one: snapshot times are (every partition has been read past them).
        unkeyedIds.expire(newestTs: asOf)
        for i in windows.indices {
            windows[i].advance(toEnd: windows[i].bucket(of: windows[i].spec.end(asOf: asOf)))
            unreported[i].advance(toEnd: unreported[i].bucket(of: unreported[i].spec.end(asOf: asOf)))
        }
        known.advance(toEnd: known.bucket(of: known.spec.end(asOf: asOf)))
        applyKnownChanges()
    }

    /// The windows the peer rules read at `asOf`: every shard's `peerSample` of them is needed.
    func peerWindowsDue(asOf: Int64, previous: Int64) -> [Int] {
        detector.peerWindowsDue(asOf: asOf, previous: previous, windows: windows)
    }

    /// This engine's users of window `i` by team, for the peer rules' reference figures; with
    /// `PeerSample.week`, the users of the week whose cutoff this snapshot passes (the weekly rules').
    func peerSample(window i: Int) -> PeerSample {
        if i == PeerSample.week { return detector.weekSample(previous: lastSnapshotAt ?? .min) }
        return PeerSample(window: windows[i], unreported: unreported[i], teams: teams, unassigned: unassignedTeam)
    }

    /// A snapshot's second step: the rules run (with the peer figures of every shard), alerts go to the outbox.
    mutating func finishSnapshot(asOf: Int64, previous: Int64, peerReferences: [Int: PeerReference]) {
        let firstAlert = outbox.count
        detector.step(asOf: asOf, previous: previous, windows: windows, unreported: unreported, users: users, teams: teams,
                      unassigned: unassignedTeam, peerReferences: peerReferences, suspicion: &suspicion, outbox: &outbox)
        // Alerts belong to this snapshot time, like the boards (replay ranges select on it).
        for i in firstAlert..<outbox.count { outbox[i].eventTime = asOf }
        takeRuleChanges()
    }

    /// This engine's partial boards of window `i` at the current snapshot, and whether they changed
    /// since the previous snapshot (else the cached ones are returned). Costs what changed plus k per
    /// touched scope (`BoardRanking`); equal to `buildPartials(window:)`.
    mutating func partialBoards(window i: Int) -> (changed: Bool, boards: [PartialBoard]) {
        updateRanking(window: i)
        defer { windows[i].clearChangedUsers() }
        guard let partials = rankedPartials(window: i) else { return (false, cachedPartials[i]!) }
        cachedPartials[i] = partials
        windows[i].changed = false
        return (true, partials)
    }

    /// A snapshot's last step, once its boards are built.
    mutating func completeSnapshot(asOf: Int64) {
        known.changed = false
        lastSnapshotAt = asOf
        counters.snapshots += 1
        // A metric series silent for the dedup horizon has ended (a session, an install): its memory goes.
        ingest.metricDeltas.forget(before: asOf - configuration.dedupHorizonMs)
        releaseVacatedUsers()
    }

    /// Appends the boards of one snapshot time (every window's, merged) to `records`, through the privacy
    /// stage (`BoardPrivacy`), which needs every window and scope at once; `changed` says whether any window's
    /// boards differ from the last snapshot's (else the serialised ones are republished as they are).
    func publish(_ boards: [[LeaderboardSnapshot]], changed: Bool, into published: inout PublishedBoards,
                 asOf: Int64, to records: inout [OutputRecord], unattributed: IngestState) {
        let counts = unattributed.unattributedEvents(windows: configuration.windows, asOf: asOf)
        // Unattributed counts move with the window even when no board did: compare them too (cheap: the
        // bytes of every unchanged board are reused).
        if changed || published.isEmpty || !counts.allSatisfy(\.isEmpty) || published.hasUnattributed {
            var withCounts = boards
            for w in withCounts.indices {
                for b in withCounts[w].indices where withCounts[w][b].scope == "global" {
                    withCounts[w][b].adoption.unattributedEvents = counts[w]
                }
            }
            published.update(BoardPrivacy.apply(withCounts.flatMap { $0 }, configuration.privacy))
        }
        for board in published.bytes {
            let spec = windows.first { $0.spec.name == board.window }!.spec
            let end = spec.end(asOf: asOf)
            records.append(OutputRecord(kind: .leaderboard, key: board.key,
                                        value: board.json(asOf: asOf, windowStart: end - spec.lengthMs, windowEnd: end), eventTime: asOf))
        }
    }

    /// Boards are derived state: rebuilt at the next snapshot (after a reload changed their size or order).
    mutating func invalidateBoards() {
        cachedBoards = Array(repeating: [], count: windows.count)
        cachedPartials = Array(repeating: nil, count: windows.count)
        published = PublishedBoards()
        resetRankings()
    }

    private mutating func releasePending(before asOf: Int64) {
        for id in partitions.keys.sorted() {
            var state = partitions[id]!
            guard state.pendingHead < state.pending.count else { continue }
            partitions[id] = nil  // keep `state` uniquely referenced while draining
            while state.pendingHead < state.pending.count, state.pending[state.pendingHead].releaseAt < asOf {
                apply(state.pending[state.pendingHead])
                state.pendingHead += 1
            }
            if state.pendingHead == state.pending.count {
                state.pending.removeAll(keepingCapacity: true)
                state.pendingHead = 0
            }
            partitions[id] = state
        }
        releaseForwarded(before: asOf)
    }

    /// Ranks this engine's active users of one window, per scope, from scratch: the reference the incremental
    /// ranking (`partialBoards`) must equal. Team scopes: every team with a known or active user.
    func buildPartials(window i: Int) -> [PartialBoard] {
        let w = windows[i]
        let k = configuration.topK
        struct ScopeTally { var top: TopK; var active = 0; var extraKnown = 0; var effective = 0; var present = false }
        var global = ScopeTally(top: TopK(k: k), present: true)
        // Teams are dense interned ids: one tally per team, mutated in place.
        var perTeam = Array(repeating: ScopeTally(top: TopK(k: k)), count: teams.count)
        for team in knownPerTeam.keys { perTeam[Int(team)].present = true }
        let less = users.less
        let knownEvents = known.events
        for u in w.active {
            let team = Int(w.team(of: u) ?? unassignedTeam)
            let value = rankValue(user: u, window: w)
            let isKnown = Int(u) < knownEvents.count && knownEvents[Int(u)] > 0
            let real = detector.isReal(u, suspicion: suspicion[Int(u)])
            global.top.offer((value, u), less)
            global.active += 1
            perTeam[team].top.offer((value, u), less)
            perTeam[team].active += 1
            perTeam[team].present = true
            if !isKnown { global.extraKnown += 1; perTeam[team].extraKnown += 1 }
            if real { global.effective += 1; perTeam[team].effective += 1 }
        }
        func partial(_ scope: String, _ t: ScopeTally, known: Int) -> PartialBoard {
            let candidates = t.top.sorted(less).map { c in
                PartialBoard.Candidate(value: c.value, entry: entry(rank: 0, user: c.user, window: w))
            }
            return PartialBoard(window: w.spec.name, scope: scope, candidates: candidates, activeUsers: t.active,
                                knownUsers: known + t.extraKnown, effectiveActiveUsers: t.effective)
        }
        var partials = [partial("global", global, known: known.active.count)]
        for team in perTeam.indices where perTeam[team].present {
            partials.append(partial("team:" + teams.string(UInt32(team)), perTeam[team], known: knownPerTeam[UInt32(team)] ?? 0))
        }
        return partials
    }

    @inline(__always) func rankValue(user u: UInt32, window w: SlidingWindow) -> Int64 {
        Self.rankValue(configuration.rankBy, user: Int(u), window: w, suspicion: suspicion[Int(u)])
    }

    /// Tokens discounted by suspicion: what `effective_tokens` shows and ranks by.
    @inline(__always) static func effectiveTokens(_ tokens: Int64, suspicion s: Double) -> Int64 {
        s <= 0 ? tokens : Int64((Double(tokens) * (1 - min(s, 1))).rounded())
    }

    func entry(rank: Int, user u: UInt32, window w: SlidingWindow) -> LeaderboardEntry {
        let s = suspicion[Int(u)]
        return LeaderboardEntry(rank: rank, userId: users.string(u), team: teams.string(w.team(of: u) ?? unassignedTeam),
                                tokens: w.tokens[Int(u)], events: w.events[Int(u)], outcomes: w.outcomes[Int(u)],
                                effectiveTokens: Self.effectiveTokens(w.tokens[Int(u)], suspicion: s), suspicion: s,
                                flags: detector.flags(of: u))
    }
}

/// A glob with `*` wildcards, for service-account names.
public struct GlobPattern: Sendable {
    let pattern: [UInt8]

    public init(_ pattern: String) { self.pattern = Array(pattern.utf8) }

    /// Classic wildcard match with one backtrack point; linear in practice.
    public func matches(_ s: String) -> Bool {
        var s = s
        return s.withUTF8 { matches(UnsafeRawBufferPointer($0)) }
    }

    /// `matches` over a name's UTF-8 bytes.
    public func matches(_ t: UnsafeRawBufferPointer) -> Bool {
        var p = 0, i = 0
        var star = -1, mark = 0
        while i < t.count {
            if p < pattern.count && pattern[p] != UInt8(ascii: "*") && pattern[p] == t[i] {
                p += 1; i += 1
            } else if p < pattern.count && pattern[p] == UInt8(ascii: "*") {
                star = p; mark = i; p += 1
            } else if star >= 0 {
                p = star + 1; mark += 1; i = mark
            } else {
                return false
            }
        }
        while p < pattern.count && pattern[p] == UInt8(ascii: "*") { p += 1 }
        return p == pattern.count
    }
}

