/// One instance's share of a deployment in which several instances split the input partitions (Kafka's
/// group assignment decides who holds which). It is a `ShardedEngine` with one shard per partition,
/// of which it holds only its own; what crosses instances goes through the exchange log
/// (`ExchangeRecord`): events for users another instance owns, each partition's arrival at a snapshot
/// time, its peer samples, and its partial boards, which one instance merges (`BoardMerger`).
///
/// Every snapshot time is a barrier, in two steps. A partition *reaches* a time once its watermark
/// passed it and everything it admitted before is counted or forwarded; an instance moves its windows
/// to the time once every partition reached it (so every forwarded event that belongs to it is in).
/// When the peer rules read the time, each partition then sends its samples, and the rules run once
/// every partition's are in. What each partition contributes depends only on its own input, so the
/// merged boards are those of one engine, whoever holds which partition.
///
/// State moves in epochs: at snapshot times that are multiples of `epochMs` every partition's state
/// is taken (`epochStates`, for the changelog), and an epoch is complete once every partition wrote it.
/// After any change of assignment every instance starts again from the newest complete epoch
/// (`init(restoring:)`), which keeps every partition at the same snapshot time.
public struct PartitionedEngine: Sendable {
    /// A snapshot time begun (windows moved, samples sent), waiting for every partition's samples.
    struct Begun: Sendable {
        var asOf: Int64
        var previous: Int64
        var due: [Int]
    }

    /// One shard per input partition; only the owned ones are assigned and hold state.
    public internal(set) var engine: ShardedEngine
    /// The partitions this instance holds, ascending.
    public let owned: [Int32]
    let ownedSet: Set<Int32>
    /// Snapshot times at multiples of this take an epoch (`epochStates`).
    public let epochMs: Int64
    /// The snapshot time the owned partitions reached, waiting for every other partition to reach it.
    var reaching: Int64?
    var begun: Begun?
    /// Arrivals read (and this instance's own), per snapshot time and partition; likewise samples.
    var reached: [Int64: Set<Int32>] = [:]
    var samples: [Int64: [Int32: [Int: PeerSample]]] = [:]
    /// Per partition, the snapshot time up to which it is known to hold nothing.
    var starts: [Int32: Int64] = [:]
    /// Forwards read while a time is begun: they belong to later times and count after it.
    var heldForwards: [(target: Int32, event: ForwardedEvent)] = []
    /// Records to append to the exchange log, in order.
    public internal(set) var exchangeOut: [ExchangeRecord] = []
    /// Alerts and dead letters for the output topics, in order.
    public internal(set) var outputs: [OutputRecord] = []
    /// The owned partitions' states at the last epoch time, for the changelog; they must be stored
    /// before anything `exchangeOut` holds after them is published (see `advance`).
    public internal(set) var epochStates: [PartitionEpochState] = []
    /// The next exchange log offset to read.
    public internal(set) var exchangePosition: Int64 = 0
    /// Per owned partition restored from an epoch, forwards below this offset are already in its state.
    var forwardsReadBelow: [Int32: Int64] = [:]
    /// Metric points for a user another instance owns: not forwarded (their series live where they come in).
    public internal(set) var unforwardedMetricPoints = 0

    public var configuration: EngineConfiguration { engine.configuration }
    public var partitions: Int32 { engine.keyedPartitions }
    /// The snapshot time last finished here.
    public var lastSnapshotAt: Int64? { engine.lastSnapshotAt }
    /// Whether a snapshot time is begun and waits for other partitions' samples (feed no input meanwhile).
    public var isWaiting: Bool { begun != nil }
    /// Whether a snapshot time waits for other partitions (to reach it, or for their samples).
    public var awaitsOthers: Bool { begun != nil || reaching != nil }

    /// An instance holding `owned` of `partitions` input partitions, from nothing (no epoch yet).
    public init(configuration: EngineConfiguration, inputTopic: String = "ai-usage", partitions: Int32,
                owned: [Int32], epochMs: Int64) {
        engine = ShardedEngine(configuration: configuration, inputTopic: inputTopic, shards: Int(partitions),
                               keyedPartitions: partitions)
        self.owned = owned.sorted()
        ownedSet = Set(owned)
        let interval = configuration.snapshotIntervalMs
        self.epochMs = max(interval, epochMs / interval * interval)
        engine.assign(partitions: self.owned)
    }

    /// An instance holding `owned`, from an epoch complete for every partition: `states` holds each
    /// partition's state at it (every partition's, not only the owned ones: the exchange log is read
    /// again from where the earliest of them had read it, so whatever any partition sent after the epoch
    /// is read here, even by an instance that restores an older epoch than another one did). The input
    /// resumes at `positions`.
    public init(configuration: EngineConfiguration, inputTopic: String = "ai-usage", partitions: Int32,
                owned: [Int32], epochMs: Int64, restoring states: [PartitionEpochState]) throws(CheckpointError) {
        self.init(configuration: configuration, inputTopic: inputTopic, partitions: partitions, owned: owned, epochMs: epochMs)
        guard let epoch = states.first?.epoch else { return }
        guard states.allSatisfy({ $0.epoch == epoch && $0.partition >= 0 && $0.partition < partitions }) else { throw .corrupt }
        for state in states where ownedSet.contains(state.partition) {
            let p = Int(state.partition)
            let route = engine.shards[p].shardRoute
            engine.shards[p] = try Engine(configuration: configuration, inputTopic: inputTopic, restoring: state.state)
            engine.shards[p].shardRoute = route
            starts[state.partition] = state.start
            forwardsReadBelow[state.partition] = state.exchangePosition
        }
        for p in self.owned where engine.shards[Int(p)].lastSnapshotAt == nil {
            engine.shards[Int(p)].lastSnapshotAt = epoch  // held nothing at the epoch
            starts[p] = starts[p] ?? epoch
        }
        engine.assign(partitions: self.owned)
        engine.lastSnapshotAt = epoch
        engine.watermark = epoch
        exchangePosition = states.map(\.exchangePosition).min() ?? 0
    }

    /// Whether this instance holds partition `p`.
    public func owns(_ p: Int32) -> Bool { ownedSet.contains(p) }

    /// The next offset expected from each owned partition (-1: from the start of the retained log).
    public var positions: [Int32: Int64] {
        var all: [Int32: Int64] = [:]
        for p in owned { all[p] = engine.shards[Int(p)].positions[p] ?? -1 }
        return all
    }

    /// Takes one message of an owned partition (see `Engine.process`); not while `isWaiting`.
    @discardableResult
    public mutating func process(_ payload: UnsafeRawBufferPointer, partition: Int32, offset: Int64,
                                 receivedAtMs: Int64 = 0, referenceTimeMs: Int64? = nil,
                                 checkingKey key: UnsafeRawBufferPointer? = nil) -> ProcessResult {
        precondition(begun == nil && ownedSet.contains(partition), "input fed to a waiting or foreign partition")
        return engine.shards[Int(partition)].process(payload, partition: partition, offset: offset, receivedAtMs: receivedAtMs,
                                                     referenceTimeMs: referenceTimeMs, checkingKey: key)
    }

    /// Reads one record of the exchange log, at `offset`.
    public mutating func receive(_ record: ExchangeRecord, at offset: Int64) {
        exchangePosition = max(exchangePosition, offset + 1)
        switch record {
        case .forward(let target, let f):
            guard ownedSet.contains(target), offset >= forwardsReadBelow[target, default: 0] else { return }
            if begun == nil { engine.shards[Int(target)].receive(f) } else { heldForwards.append((target, f)) }
        case .marker(let m):
            starts[m.partition] = m.start
            guard m.asOf > (engine.lastSnapshotAt ?? .min) else { return }
            if let s = m.samples { samples[m.asOf, default: [:]][m.partition] = s } else { reached[m.asOf, default: []].insert(m.partition) }
        case .report, .merged:
            break  // for the merging instance
        }
    }

    /// Goes through every snapshot time it can: the owned partitions reach the next one their watermark
    /// passed (markers to `exchangeOut`); once every partition reached it, the windows move and the
    /// samples go out; once every partition's samples are in, the rules run (alerts to `outputs`) and
    /// the reports go out (`exchangeOut`). Stops after an epoch time, whose states the caller stores
    /// before publishing what `exchangeOut` holds, then calls again.
    public mutating func advance(idle: Set<Int32> = [], quietAdvanceMs: Int64 = 0) {
        guard !owned.isEmpty, epochStates.isEmpty else { return }
        routeForwards()
        while true {
            if let b = begun {
                guard let all = peerSamples(b) else { return }
                finish(b, samples: all)
                if !epochStates.isEmpty { return }
            } else if let t = reaching {
                guard everyPartition(t, in: reached[t] ?? []) else { return }
                reaching = nil
                begin(asOf: t)
            } else {
                guard let next = nextSnapshotTime(idle: idle, quietAdvanceMs: quietAdvanceMs) else { return }
                reach(next)
            }
        }
    }

    /// Hands over the epoch states once the caller stored them.
    public mutating func takeEpochStates() -> [PartitionEpochState] {
        defer { epochStates = [] }
        return epochStates
    }

    /// Hands over the records for the exchange log.
    public mutating func takeExchange() -> [ExchangeRecord] {
        defer { exchangeOut.removeAll(keepingCapacity: true) }
        return exchangeOut
    }

    /// Hands over the records for the output topics (dead letters not yet drained come last).
    public mutating func takeOutputs() -> [OutputRecord] {
        for p in owned { outputs.append(contentsOf: engine.shards[Int(p)].takeOutputs()) }
        defer { outputs.removeAll(keepingCapacity: true) }
        return outputs
    }

    /// Events admitted here for users of other partitions: counted where they belong when held here,
    /// else appended to the exchange log.
    mutating func routeForwards() {
        for p in owned {
            for f in engine.shards[Int(p)].takeForwards() {
                let target = Int32(f.admission.shard)
                if ownedSet.contains(target) {
                    engine.shards[Int(target)].receive(f)
                } else if f.metric == nil {
                    exchangeOut.append(.forward(target: target, f))
                } else {
                    unforwardedMetricPoints += 1
                }
            }
            for r in engine.shards[Int(p)].unattributedSeen { engine.ingest.tally(r, configuration: configuration) }
            engine.shards[Int(p)].unattributedSeen.removeAll(keepingCapacity: true)
        }
    }

    /// The next snapshot time the owned partitions have passed (or, when they are all idle, that another
    /// partition has reached); nil when there is none yet.
    mutating func nextSnapshotTime(idle: Set<Int32>, quietAdvanceMs: Int64) -> Int64? {
        let interval = configuration.snapshotIntervalMs
        let watermark = engine.currentWatermark(idle: idle, quietAdvanceMs: quietAdvanceMs)
        let othersReached = owned.allSatisfy(idle.contains) ? reached.keys.min() : nil
        if engine.lastSnapshotAt == nil {
            // Once every owned partition that is not idle has an event (the watermark is known): an event
            // more than the lateness before a partition's first one is late there and counts only after
            // the partition's watermark, so the owned partitions hold nothing at earlier times.
            let firstEvent = watermark == nil ? nil : owned.compactMap { engine.shards[Int($0)].firstEventTime }.min()
            let start = firstEvent.map { floorDiv($0 - configuration.allowedLatenessMs, interval) * interval }
                ?? othersReached.map { $0 - interval }
            guard let start else { return nil }
            engine.lastSnapshotAt = start
            for p in owned {
                engine.shards[Int(p)].lastSnapshotAt = start
                starts[p] = start
            }
        }
        let next = engine.lastSnapshotAt! + interval
        if let watermark, watermark >= next {
            engine.watermark = max(engine.watermark, watermark)
            return next
        }
        if let othersReached, othersReached >= next { return next }
        return nil
    }

    /// The owned partitions reach `asOf`: everything they admitted before is counted or forwarded.
    mutating func reach(_ asOf: Int64) {
        routeForwards()
        for p in owned {
            exchangeOut.append(.marker(SnapshotMarker(asOf: asOf, partition: p, start: starts[p]!, samples: nil)))
        }
        reached[asOf, default: []].formUnion(owned)
        reaching = asOf
    }

    /// Whether every partition is in `set`, or is known to hold nothing at `asOf`.
    func everyPartition(_ asOf: Int64, in set: some Collection<Int32>) -> Bool {
        let present = Set(set)
        return (0..<partitions).allSatisfy { q in present.contains(q) || (starts[q].map { $0 >= asOf } ?? false) }
    }

    /// A snapshot time's first step on every owned partition, and their samples when the peer rules need them.
    mutating func begin(asOf: Int64) {
        let previous = engine.lastSnapshotAt!
        for p in owned {
            outputs.append(contentsOf: engine.shards[Int(p)].takeOutputs())  // dead letters first, as one engine
            engine.shards[Int(p)].watermark = engine.watermark
            engine.shards[Int(p)].beginSnapshot(asOf: asOf)
        }
        let due = engine.shards[Int(owned[0])].peerWindowsDue(asOf: asOf, previous: previous)
        if !due.isEmpty {
            for p in owned {
                var own: [Int: PeerSample] = [:]
                for w in due { own[w] = engine.shards[Int(p)].peerSample(window: w) }
                exchangeOut.append(.marker(SnapshotMarker(asOf: asOf, partition: p, start: starts[p]!, samples: own)))
                samples[asOf, default: [:]][p] = own
            }
        }
        begun = Begun(asOf: asOf, previous: previous, due: due)
    }

    /// Every partition's samples of the begun time's peer windows, in partition order; nil while a
    /// partition that may hold users has not sent them.
    func peerSamples(_ b: Begun) -> [[Int: PeerSample]]? {
        guard !b.due.isEmpty else { return [] }
        let got = samples[b.asOf] ?? [:]
        guard everyPartition(b.asOf, in: got.keys) else { return nil }
        return (0..<partitions).map { got[$0] ?? [:] }
    }

    /// A snapshot time's rules, alerts and reports on every owned partition.
    mutating func finish(_ b: Begun, samples all: [[Int: PeerSample]]) {
        var references: [Int: PeerReference] = [:]
        for w in b.due { references[w] = PeerReference(samples: all.map { $0[w] ?? PeerSample() }) }
        let figures = references
        var alerts: [OutputRecord] = []
        for p in owned {
            engine.shards[Int(p)].finishSnapshot(asOf: b.asOf, previous: b.previous, peerReferences: figures)
            alerts.append(contentsOf: engine.shards[Int(p)].takeOutputs())
        }
        outputs.append(contentsOf: ShardedEngine.mergeAlerts(alerts))
        let windowCount = configuration.windows.count
        for p in owned {
            let i = Int(p)
            let boards = (0..<windowCount).map { engine.shards[i].partialBoards(window: $0).boards }
            let tallies = (0..<windowCount).map { engine.shards[i].rosterTally(window: $0) }
            exchangeOut.append(.report(PartitionReport(asOf: b.asOf, partition: p, start: starts[p]!,
                                                       firstEvent: engine.shards[i].firstEventTime ?? .min, boards: boards, tallies: tallies)))
            engine.shards[i].completeSnapshot(asOf: b.asOf)
        }
        engine.ingest.forgetUnattributed(windows: configuration.windows, asOf: b.asOf)
        engine.lastSnapshotAt = b.asOf
        engine.snapshots += 1
        begun = nil
        reached = reached.filter { $0.key > b.asOf }
        samples = samples.filter { $0.key > b.asOf }
        for (target, f) in heldForwards { engine.shards[Int(target)].receive(f) }
        heldForwards.removeAll()
        if b.asOf % epochMs == 0 {
            epochStates = owned.map { p in
                PartitionEpochState(partition: p, epoch: b.asOf, start: starts[p]!, exchangePosition: exchangePosition,
                                    nextOffset: engine.shards[Int(p)].positions[p] ?? -1, state: engine.shards[Int(p)].checkpoint())
            }
        }
    }
}
