/// One engine's partitions spread over several `Engine` shards, publishing exactly what one engine
/// would: each shard counts the users of its partitions; at a snapshot time every shard moves its
/// windows, the peer rules get every shard's figures, each shard runs its rules, and the shards'
/// partial boards are merged (users are disjoint between shards, so the merged top k is exact).
///
/// The shards can run on their own threads between snapshots (`withShards`); everything that
/// crosses shards (forwarded events, the watermark, snapshots) happens here, on the caller's thread.
public struct ShardedEngine: Sendable {
    public internal(set) var shards: [Engine]
    /// Partitions of the topic producers key by `user_id` (how users map to shards).
    public let keyedPartitions: Int32
    public let keyedBase: Int32
    public internal(set) var lastSnapshotAt: Int64?
    public internal(set) var watermark = Int64.min
    /// Published boards per window at the last snapshot, reused while no shard's partials changed.
    var cachedBoards: [[LeaderboardSnapshot]]
    /// The boards as last published, serialised.
    var published = PublishedBoards()
    /// Records produced since the last `takeOutputs()`.
    public internal(set) var outbox: [OutputRecord] = []
    public internal(set) var snapshots = 0
    /// Runs the per-shard steps of a snapshot on several threads; nil: one after the other, here.
    public var parallel: ParallelRunner?
    /// Unattributed OTLP events of every shard, de-duplicated across them.
    var ingest = IngestState()

    /// `keyedPartitions`: the partition count of the topic producers key by `user_id`; `keyedBase`, the
    /// engine partition id of its partition 0 (when several inputs share the engine).
    public init(configuration: EngineConfiguration, inputTopic: String = "ai-usage", shards count: Int, keyedPartitions: Int32,
                keyedBase: Int32 = 0) {
        let n = max(count, 1)
        self.keyedPartitions = keyedPartitions
        self.keyedBase = keyedBase
        shards = (0..<n).map { i in
            var e = Engine(configuration: configuration, inputTopic: inputTopic)
            if n > 1 { e.shardRoute = ShardRoute(index: i, shards: n, keyedPartitions: keyedPartitions, keyedBase: keyedBase) }
            return e
        }
        cachedBoards = Array(repeating: [], count: configuration.windows.count)
    }

    public var configuration: EngineConfiguration { shards[0].configuration }

    /// Per engine partition id, the input topic and partition it reads (dead letters name them).
    public var partitionSources: [PartitionSource] {
        get { shards[0].partitionSources }
        set { for i in shards.indices { shards[i].partitionSources = newValue } }
    }

    /// Attribution per tool (OTLP inputs), over every shard.
    public var attribution: [String: ToolAttribution] {
        var total: [String: ToolAttribution] = [:]
        for state in shards.map(\.ingest) + [ingest] {
            for (tool, a) in state.attribution {
                var t = total[tool, default: ToolAttribution()]
                t.attributed += a.attributed
                t.unattributed += a.unattributed
                t.unattributedTokens += a.unattributedTokens
                total[tool] = t
            }
        }
        return total
    }

    /// OTLP metric series held (their last readings) and cumulative resets seen, over every shard.
    public var metricSeries: (series: Int, resets: Int) {
        shards.reduce((ingest.metricDeltas.count, ingest.metricDeltas.resets)) {
            ($0.0 + $1.ingest.metricDeltas.count, $0.1 + $1.ingest.metricDeltas.resets)
        }
    }

    /// The shard that owns partition `p`.
    @inline(__always) public func shard(ofPartition p: Int32) -> Int { Int(p) % shards.count }

    /// Declares the partitions whose watermarks the snapshots wait for, each to its shard.
    public mutating func assign(partitions ids: [Int32]) {
        for id in ids { shards[shard(ofPartition: id)].assign(partitions: [id]) }
    }

    /// Forgets partitions no longer assigned.
    public mutating func revoke(partitions ids: [Int32]) {
        for id in ids { shards[shard(ofPartition: id)].revoke(partitions: [id]) }
    }

    /// Takes one message (see `Engine.process`) on the shard of its partition.
    @discardableResult
    public mutating func process(_ payload: UnsafeRawBufferPointer, partition: Int32, offset: Int64,
                                 receivedAtMs: Int64 = 0, referenceTimeMs: Int64? = nil,
                                 checkingKey key: UnsafeRawBufferPointer? = nil) -> ProcessResult {
        let i = shard(ofPartition: partition)
        let result = shards[i].process(payload, partition: partition, offset: offset, receivedAtMs: receivedAtMs,
                                       referenceTimeMs: referenceTimeMs, checkingKey: key)
        if result == .forwarded { deliverForwards() }
        return result
    }

    /// Hands every shard's forwarded events to the shards that own their users. Call after the shards
    /// processed a batch and before the next snapshot, so an event counts before its time is published.
    public mutating func deliverForwards() {
        guard shards.count > 1 else { return }
        for i in shards.indices {
            for f in shards[i].takeForwards() { shards[f.admission.shard].receive(f) }
        }
        // After every forward: receiving a metric point may find it names nobody (tallied here).
        for i in shards.indices {
            for r in shards[i].unattributedSeen { ingest.tally(r, configuration: configuration) }
            shards[i].unattributedSeen.removeAll(keepingCapacity: true)
        }
    }

    /// Per partition of every shard, the newest event time counted (`Int64.min`: none yet).
    public var partitionNewest: [Int32: Int64] {
        shards.reduce(into: [:]) { all, shard in all.merge(shard.partitionNewest) { a, _ in a } }
    }

    /// The watermark over every shard's partitions (see `Engine.currentWatermark`).
    public func currentWatermark(idle: Set<Int32> = [], quietAdvanceMs: Int64 = 0) -> Int64? {
        Engine.watermark(partitionNewest.map { ($0.key, $0.value) }, idle: idle, quietAdvanceMs: quietAdvanceMs,
                         allowedLatenessMs: configuration.allowedLatenessMs)
    }

    /// Emits every snapshot whose time the watermark has passed. Returns how many times were emitted.
    /// With `alertsFirst`, each snapshot time's alerts (and whatever is before them: dead letters, an
    /// earlier time's boards) are handed to it as soon as the rules have run, before that time's boards
    /// are built: alerts do not depend on the boards, so a live daemon need not make them wait. The
    /// records come in the order `takeOutputs()` would give.
    @discardableResult
    public mutating func emitDueSnapshots(idle: Set<Int32> = [], quietAdvanceMs: Int64 = 0) -> Int {
        emitDueSnapshots(idle: idle, quietAdvanceMs: quietAdvanceMs, alertsFirst: nil)
    }

    /// `emitDueSnapshots`, handing each snapshot time's alerts to `alertsFirst` (see above).
    @discardableResult
    public mutating func emitDueSnapshots(idle: Set<Int32>, quietAdvanceMs: Int64,
                                          alertsFirst: (([OutputRecord]) -> Void)?) -> Int {
        deliverForwards()
        guard let w = currentWatermark(idle: idle, quietAdvanceMs: quietAdvanceMs) else { return 0 }
        watermark = max(watermark, w)
        let interval = configuration.snapshotIntervalMs
        if lastSnapshotAt == nil {
            guard let first = shards.compactMap(\.firstEventTime).min() else { return 0 }
            lastSnapshotAt = floorDiv(first, interval) * interval
            for i in shards.indices { shards[i].lastSnapshotAt = lastSnapshotAt }
        }
        for i in shards.indices { shards[i].watermark = watermark }
        var emitted = 0
        while lastSnapshotAt! + interval <= watermark {
            emitSnapshot(asOf: lastSnapshotAt! + interval, previous: lastSnapshotAt!, alertsFirst: alertsFirst)
            lastSnapshotAt! += interval
            emitted += 1
        }
        return emitted
    }

    mutating func emitSnapshot(asOf: Int64, previous: Int64, alertsFirst: (([OutputRecord]) -> Void)? = nil) {
        // Dead letters written since the last snapshot come first, as one engine writes them.
        for i in shards.indices { outbox.append(contentsOf: shards[i].takeOutputs()) }
        forEachShard { _, shard in shard.beginSnapshot(asOf: asOf) }
        var references: [Int: PeerReference] = [:]
        for w in shards[0].peerWindowsDue(asOf: asOf, previous: previous) {
            references[w] = PeerReference(samples: shards.map { $0.peerSample(window: w) })
        }
        let figures = references
        forEachShard { _, shard in shard.finishSnapshot(asOf: asOf, previous: previous, peerReferences: figures) }
        var alerts: [OutputRecord] = []
        for i in shards.indices { alerts.append(contentsOf: shards[i].takeOutputs()) }
        outbox.append(contentsOf: Self.mergeAlerts(alerts))
        if let alertsFirst {
            alertsFirst(outbox)
            outbox.removeAll(keepingCapacity: true)
        }
        let windowCount = cachedBoards.count
        let perShard = collectFromShards { shard in (0..<windowCount).map { shard.partialBoards(window: $0) } }
        var anyChanged = false
        for w in cachedBoards.indices {
            let partials = perShard.map { $0[w].boards }
            let changed = cachedBoards[w].isEmpty || perShard.contains { $0[w].changed }
            if changed {
                let merged = BoardMerge.merge(partials, window: shards[0].windows[w].spec.name,
                                              rankBy: configuration.rankBy, topK: configuration.topK)
                cachedBoards[w] = shards[0].applyRoster(merged, tallies: shards.map { $0.rosterTally(window: w) }, window: w)
                anyChanged = true
            }
        }
        // One shard has no route and tallies its unattributed usage itself; several hand it up (`deliverForwards`).
        shards[0].publish(cachedBoards, changed: anyChanged, into: &published, asOf: asOf, to: &outbox,
                          unattributed: shards.count == 1 ? shards[0].ingest : ingest)
        if shards.count == 1 {
            shards[0].ingest.forgetUnattributed(windows: configuration.windows, asOf: asOf)
        } else {
            ingest.forgetUnattributed(windows: configuration.windows, asOf: asOf)
        }
        for i in shards.indices { shards[i].completeSnapshot(asOf: asOf) }
        snapshots += 1
    }

    /// Runs `body` on every shard: through `parallel` on several threads when set, else in turn.
    mutating func forEachShard(_ body: @Sendable (Int, inout Engine) -> Void) {
        guard let parallel, shards.count > 1 else {
            for i in shards.indices { body(i, &shards[i]) }
            return
        }
        shards.withUnsafeMutableBufferPointer { buffer in
            let access = ShardAccess(base: buffer.baseAddress!, count: buffer.count)
            parallel(buffer.count) { i in access.withShard(i) { body(i, &$0) } }
        }
    }

    /// `body`'s result for every shard, in shard order (computed as `forEachShard` runs).
    mutating func collectFromShards<T: Sendable>(_ body: @Sendable (inout Engine) -> T) -> [T] {
        var results = [T?](repeating: nil, count: shards.count)
        results.withUnsafeMutableBufferPointer { buffer in
            let slots = ShardSlots(base: buffer.baseAddress!)
            forEachShard { i, shard in slots.base[i] = body(&shard) }
        }
        return results.map { $0! }
    }

    /// The alerts of one snapshot time from every shard, in the order one engine gives them. Each shard's
    /// are already in that order; a stable sort on (place, user) interleaves them.
    static func mergeAlerts(_ records: [OutputRecord]) -> [OutputRecord] {
        records.enumerated().sorted { a, b in
            let x = a.element, y = b.element
            if x.order != y.order, let p = x.order, let q = y.order { return p < q }
            let xk = x.key ?? [], yk = y.key ?? []
            if xk != yk { return xk.lexicographicallyPrecedes(yk) }
            return a.offset < b.offset
        }.map(\.element)
    }

    /// Hands over and clears the records produced so far (dead letters not yet drained come last).
    public mutating func takeOutputs() -> [OutputRecord] {
        for i in shards.indices { outbox.append(contentsOf: shards[i].takeOutputs()) }
        defer { outbox.removeAll(keepingCapacity: true) }
        return outbox
    }

    /// The counts of every shard together.
    public var counters: EngineCounters {
        var total = EngineCounters()
        for s in shards {
            let c = s.counters
            total.counted += c.counted
            total.service += c.service
            total.duplicates += c.duplicates
            total.alreadyProcessed += c.alreadyProcessed
            total.unkeyed += c.unkeyed
            total.releasedUsers += c.releasedUsers
            for (reason, n) in c.deadLetters { total.deadLetters[reason, default: 0] += n }
        }
        total.snapshots = snapshots
        return total
    }

    /// The next offset expected from each partition (-1 = none yet), over every shard.
    public var positions: [Int32: Int64] {
        var all: [Int32: Int64] = [:]
        for s in shards { all.merge(s.positions) { a, _ in a } }
        return all
    }
}

/// Access to each shard from its own thread: every index is touched by exactly one thread at a time,
/// between two calls on the `ShardedEngine` (which alone crosses shards), so no lock is needed.
public struct ShardAccess: @unchecked Sendable {
    let base: UnsafeMutablePointer<Engine>
    public let count: Int

    /// Runs `body` on shard `i`; only the thread given index `i` may call it.
    @inline(__always) public func withShard<R>(_ i: Int, _ body: (inout Engine) -> R) -> R {
        precondition(i >= 0 && i < count)
        return body(&base[i])
    }
}

extension ShardedEngine {
    /// Lends the shards for work on several threads (see `ShardAccess`); forwarded events are handed
    /// over afterwards, on this thread.
    public mutating func withShardAccess<R>(_ body: (ShardAccess) -> R) -> R {
        let result = shards.withUnsafeMutableBufferPointer { buffer in
            body(ShardAccess(base: buffer.baseAddress!, count: buffer.count))
        }
        deliverForwards()
        return result
    }
}

/// Runs `body(i)` for every `i` in `0..<count`, possibly on several threads, and returns when all ran.
public typealias ParallelRunner = @Sendable (_ count: Int, _ body: @Sendable (Int) -> Void) -> Void

/// One result slot per shard, each written by the thread that runs that shard only.
struct ShardSlots<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
}
