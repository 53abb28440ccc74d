import Kafka
import Logging
import Synchronization
import TokenwatchCore

/// The loop of an instance when the instances of a group split the input partitions
/// (`engine.instances: split`), on the pipeline thread. See `PartitionedEngine` for the protocol.
///
/// - The input group (eager assignment: every rebalance revokes every partition) decides which
///   partitions this instance counts. After each rebalance every instance starts again from the newest
///   epoch complete for every partition on the changelog (`EpochFollower`), reading each partition from
///   where that epoch's state ends; with none yet, from the beginning of the retained log.
/// - Every instance reads the exchange topic (`ExchangeReader`) and appends its own records to it
///   (`ExchangeSender`): forwards, arrivals, samples, reports. An epoch's states are on the changelog
///   before anything after them goes to the exchange.
/// - The instance assigned partition 0 of the election topic merges the reports into the published
///   boards (`BoardMerger`); every instance publishes the alerts and dead letters of its partitions.
final class PartitionedLoop {
    let pipeline: Pipeline
    let settings: PipelineSettings
    let logger: Logger
    private let lock: StateDirectoryLock
    private let consumer: KafkaConsumer
    private var outputs: OutputSender
    private let identity: StateIdentity
    private let partitions: Int32
    private var router: InputRouter
    private let exchange: ExchangeSender
    private let changelogTopic: String
    private let epochWriter: ChangelogWriter
    private let epochs: EpochFollower
    private let election: LeaderElection
    /// The epoch a rebalance restores, read by the consumer's start offsets inside `poll`.
    private let planned = PlannedEpoch()
    private var engine: PartitionedEngine?
    private var reader: ExchangeReader?
    private var merger: BoardMerger?
    private var mergeReader: ExchangeReader?
    /// The newest snapshot time whose boards went to the producer, and the newest said to be merged.
    private var boardsSentThrough = Int64.min
    private var mergedSaidThrough = Int64.min
    private var lastActivity: [Int32: Int64] = [:]
    private var allQuietSince: Int64?
    private var consumed = 0
    private var paused = false
    private var latestBoards: [String: [UInt8]] = [:]
    private var alertsByRule: [String: Int] = [:]
    private var restores = 0
    /// Partition states written to the changelog, and their bytes.
    private var epochWrites = 0
    private var epochFailures = 0
    private var epochBytes = 0
    private var noPartitionsSince: Int64? = WallClock.monotonicMs()
    /// Messages delivered while a snapshot time was begun (see `pollInput`).
    private var held: [HeldMessage] = []

    /// Locks the state directory, connects, and joins; nil when a stop came first.
    static func start(pipeline: Pipeline) throws -> PartitionedLoop? {
        do {
            return try PartitionedLoop(pipeline: pipeline)
        } catch is LiveLoop.StoppedWhileStarting {
            return nil
        }
    }

    private init(pipeline: Pipeline) throws {
        self.pipeline = pipeline
        settings = pipeline.settings
        logger = pipeline.logger
        lock = try StateDirectoryLock(directory: settings.stateDirectory)
        guard let changelog = settings.changelogTopic else {
            throw PipelineRefusal("engine.instances: split keeps each partition's state on the changelog topic; state.changelog must be true")
        }
        changelogTopic = changelog
        var consumerConfig = pipeline.kafkaConfiguration()
        consumerConfig["group.id"] = settings.groupId
        // Eager: every rebalance revokes every partition, so every instance starts again from an epoch.
        consumerConfig["partition.assignment.strategy"] = "range"
        consumer = try KafkaConsumer(configuration: consumerConfig, logger: logger)
        let producer = try KafkaProducer(configuration: pipeline.kafkaConfiguration(), logger: logger, servesReportsOnOwnThread: true)
        outputs = OutputSender(producer: producer, logger: logger, eventToAckBounds: LatencyHistogram.bounds(
            after: Double(settings.engine.allowedLatenessMs) / 1000, coarseSeconds: Double(settings.engine.snapshotIntervalMs) / 1000))
        identity = try LiveLoop.identify(consumer: consumer, settings: settings, pipeline: pipeline)
        guard identity.inputs.isSingleNative else {
            throw PipelineRefusal("engine.instances: split reads one input topic of tokenwatch events; OTLP inputs need engine.instances: standby")
        }
        partitions = Int32(identity.partitions)
        router = InputRouter(identity.inputs)
        let kafka = pipeline.kafkaConfiguration()
        _ = InternalTopic.ensure(settings.exchangeTopic, partitions: 1, consumer: consumer, configuration: kafka, logger: logger)
        _ = InternalTopic.ensure(changelog, partitions: 1, configs: ["cleanup.policy": "compact"], consumer: consumer,
                                 configuration: kafka, logger: logger)
        exchange = try ExchangeSender(topic: settings.exchangeTopic, key: Array(settings.groupId.utf8), configuration: kafka, logger: logger)
        epochWriter = try ChangelogWriter(topic: changelog, group: settings.groupId, configuration: kafka, logger: logger)
        epochs = try EpochFollower(topic: changelog, group: settings.groupId, configuration: kafka, logger: logger)
        election = try LeaderElection(settings: settings, configuration: kafka, logger: logger)
        pipeline.updateStatus {
            $0.inputSources = identity.inputs.sources
            $0.active = true
            $0.roleKnown = true
        }
    }

    deinit { consumer.close() }

    func run() throws {
        // Read what the changelog holds before joining, so the first assignment starts from it.
        while !epochs.caughtUp && !pipeline.stopRequested {
            epochs.poll(timeout: .milliseconds(100))
            pipeline.beatNow()
        }
        followEpochs()
        consumer.setStartOffsets { [planned] _, partition in
            let next = planned.position(partition)
            return next >= 0 ? next : TopicPartitionOffset.beginning
        }
        try consumer.subscribe(topics: identity.inputs.topics)
        logger.info("pipeline started; splitting the input partitions with the group's other instances", metadata: [
            "inputs": "\(identity.inputs.headerText)", "group": "\(settings.groupId)", "partitions": "\(partitions)",
            "exchange": "\(settings.exchangeTopic)", "changelog": "\(changelogTopic)", "election": "\(election.topic)",
        ])
        while !pipeline.stopRequested {
            pipeline.beatNow()
            followEpochs()
            if let merging = election.poll() { try changeMerging(merging) }
            if let reload = pipeline.control.serveSplit(engine, logger: logger) {
                pipeline.updateStatus {
                    $0.reloadGeneration = reload.generation
                    $0.reloadError = reload.error
                }
            }
            try handleRebalances()
            let n = try pollInput()
            readExchange()
            try advance()
            try merge()
            outputs.serveDeliveries(timeout: .zero)
            if exchange.takeFailures() > 0 { try restartGeneration("an exchange record was not acknowledged") }
            publishStatus(idle: n == 0)
        }
        logger.info("stopping: flushing outputs")
        let deadline = WallClock.monotonicMs() + 20_000
        while outputs.unacknowledged > 0 && WallClock.monotonicMs() < deadline {
            outputs.serveDeliveries(timeout: .milliseconds(100))
            pipeline.beatNow()
        }
        _ = exchange.flush(timeoutMs: max(0, deadline - WallClock.monotonicMs()))
        consumer.close()
        election.resign()
        logger.info("stopped", metadata: ["consumed": "\(consumed)"])
        withExtendedLifetime(lock) {}
    }

    /// Reads the changelog's new epoch states; the newest complete epoch is what the next rebalance restores.
    private func followEpochs() {
        epochs.poll()
        if let states = epochs.newEpochStates() { planned.set(EpochChoice(states, partitions: partitions)) }
    }

    private func handleRebalances() throws {
        for event in consumer.takeRebalanceEvents() {
            switch event {
            case .revoked:
                engine = nil
                reader = nil
                held.removeAll()
                noPartitionsSince = noPartitionsSince ?? WallClock.monotonicMs()
                logger.info("partitions revoked; this instance starts again from an epoch when they are dealt out")
            case .assigned:
                try restore(owned: identity.inputs.engineIds((try? consumer.assignment()) ?? []))
            }
        }
    }

    /// Starts again, holding `owned`, from the epoch the consumer's start offsets were taken from.
    private func restore(owned: [Int32]) throws {
        let choice = planned.choice
        do {
            engine = try PartitionedEngine(configuration: settings.engine, inputTopic: settings.inputTopic, partitions: partitions,
                                           owned: owned, epochMs: settings.epochIntervalMs, restoring: choice?.states ?? [])
        } catch {
            throw PipelineRefusal("the epoch states on \(changelogTopic) do not restore here (\(error)); every instance of group "
                                  + "\(settings.groupId) needs the same windows, snapshot interval, lateness and de-duplication settings")
        }
        reader = try ExchangeReader(topic: settings.exchangeTopic, key: Array(settings.groupId.utf8), from: engine!.exchangePosition,
                                    configuration: pipeline.kafkaConfiguration(), logger: logger)
        let now = WallClock.monotonicMs()
        lastActivity = Dictionary(uniqueKeysWithValues: owned.map { ($0, now) })
        paused = false
        restores += 1
        noPartitionsSince = owned.isEmpty ? (noPartitionsSince ?? now) : nil
        logger.info("partitions assigned; started again from an epoch", metadata: [
            "partitions": "\(owned)", "epoch": "\(choice.map { RFC3339.format($0.epoch) } ?? "none: from the beginning")",
        ])
    }

    /// After a failure that breaks the exchange's order: leaves and rejoins the group, so every instance
    /// starts again from an epoch.
    private func restartGeneration(_ reason: String) throws {
        logger.error("starting again from an epoch", metadata: ["reason": "\(reason)"])
        engine = nil
        reader = nil
        try consumer.unsubscribe()
        try consumer.subscribe(topics: identity.inputs.topics)
    }

    /// Takes a batch of input. While a snapshot time is begun the partitions are paused; what was
    /// delivered before the pause took hold waits in `held` and is counted first once the time is finished.
    private func pollInput() throws -> Int {
        let waiting = engine?.isWaiting ?? false
        if waiting != paused, let parts = try? consumer.assignment(), !parts.isEmpty {
            if waiting { try? consumer.pause(parts) } else { try? consumer.resume(parts) }
            paused = waiting
        }
        if !waiting { processHeld() }
        let now = WallClock.nowMs(), monotonic = WallClock.monotonicMs()
        // While other partitions are awaited, the exchange is read again soon.
        let timeout: Duration = .milliseconds(engine?.awaitsOthers ?? false ? 2 : 100)
        let n = try consumer.poll(maxMessages: settings.batchSize, timeout: timeout) { message in
            guard message.error == nil, let (id, _) = router.route(message) else { return }
            // An assignment served inside this poll comes before its partitions' messages: start from it first.
            if !(engine?.owns(id) ?? false) { try handleRebalances() }
            guard engine?.owns(id) ?? false else { return }  // a partition revoked meanwhile: its new owner reads it
            lastActivity[id] = monotonic
            if engine!.isWaiting || !held.isEmpty {
                held.append(HeldMessage(partition: id, offset: message.offset, payload: Array(message.payload),
                                        key: Array(message.key), timestampMs: message.timestampMs))
                return
            }
            engine!.process(message.payload, partition: id, offset: message.offset, receivedAtMs: now,
                            referenceTimeMs: message.timestampMs, checkingKey: message.key)
        }
        consumed += n
        return n
    }

    /// Counts the messages held while a snapshot time was begun, in their order.
    private func processHeld() {
        guard engine != nil, !held.isEmpty else { return }
        let now = WallClock.nowMs()
        for m in held where engine!.owns(m.partition) {
            m.payload.withUnsafeBytes { payload in
                m.key.withUnsafeBytes { key in
                    _ = engine!.process(payload, partition: m.partition, offset: m.offset, receivedAtMs: now,
                                        referenceTimeMs: m.timestampMs, checkingKey: key)
                }
            }
        }
        held.removeAll()
    }

    private func readExchange() {
        guard let reader else { return }
        reader.poll { record, offset in engine?.receive(record, at: offset) }
    }

    /// Moves the snapshot times on; an epoch's states go to the changelog before what follows them.
    private func advance() throws {
        guard engine != nil else { return }
        let monotonic = WallClock.monotonicMs()
        let idle = Set(lastActivity.filter { monotonic - $0.value > settings.engine.idleTimeoutMs }.keys)
        var quietAdvance: Int64 = 0
        if !lastActivity.isEmpty && idle.count == lastActivity.count {
            let since = allQuietSince ?? (lastActivity.values.max() ?? monotonic)
            allQuietSince = since
            quietAdvance = monotonic - since
        } else {
            allQuietSince = nil
        }
        while true {
            engine!.advance(idle: idle, quietAdvanceMs: quietAdvance)
            let states = engine!.takeEpochStates()
            if !states.isEmpty { writeEpoch(states, intervalMs: engine!.epochMs) }
            try exchange.send(engine!.takeExchange())
            publish(engine!.takeOutputs())
            if states.isEmpty { return }
        }
    }

    /// Writes the owned partitions' states at an epoch to the changelog, all at once. A failure leaves
    /// this epoch missing for them (a torn slot is never read): a rebalance restores an earlier or a
    /// later epoch that every partition holds.
    private func writeEpoch(_ states: [PartitionEpochState], intervalMs: Int64) {
        let writes = states.map { state in
            ChangelogWriter.Write(file: state.encoded(), group: EpochChangelog.group(settings.groupId, partition: state.partition),
                                  slot: EpochChangelog.slot(epoch: state.epoch, intervalMs: intervalMs), progress: state.epoch)
        }
        do {
            try epochWriter.publish(writes)
            epochWrites += writes.count
            epochBytes += writes.reduce(0) { $0 + $1.file.count }
        } catch {
            epochFailures += writes.count
            logger.error("an epoch's partition states were not all acknowledged by the changelog", metadata: [
                "partitions": "\(states.map(\.partition))", "epoch": "\(RFC3339.format(states[0].epoch))", "error": "\(error)",
            ])
        }
    }

    /// While this instance merges: the reports read become boards; acknowledged boards are said merged.
    private func merge() throws {
        guard var merger, let mergeReader else { return }
        mergeReader.poll { record, _ in
            switch record {
            case .report(let report): merger.add(report)
            case .merged(let asOf): merger.skip(through: asOf)
            default: break
            }
        }
        // A new merger reads the whole retained exchange before publishing: what its predecessors said
        // they published ("merged through") is then known, and only the rest goes out.
        guard mergeReader.caughtUp else {
            self.merger = merger
            return
        }
        let boards = merger.takeBoards()
        self.merger = merger
        publish(boards)
        boardsSentThrough = max(boardsSentThrough, merger.mergedThrough)
        if outputs.unacknowledged == 0 && boardsSentThrough > mergedSaidThrough {
            try exchange.send([.merged(asOf: boardsSentThrough)])
            mergedSaidThrough = boardsSentThrough
        }
    }

    /// Becoming the merging instance: reads the exchange from its start (see `merge`).
    private func changeMerging(_ merging: Bool) throws {
        if merging {
            let from: Int64 = 0
            merger = BoardMerger(configuration: settings.engine, inputTopic: settings.inputTopic, partitions: partitions)
            mergeReader = try ExchangeReader(topic: settings.exchangeTopic, key: Array(settings.groupId.utf8), from: from,
                                             configuration: pipeline.kafkaConfiguration(), logger: logger)
            logger.info("merging: this instance publishes the boards", metadata: ["exchange_from": "\(from)"])
        } else {
            merger = nil
            mergeReader = nil
            logger.info("another instance merges the boards now")
        }
    }

    private func publish(_ records: [OutputRecord]) {
        let now = WallClock.nowMs()
        for record in records {
            if record.kind == .leaderboard, let key = record.key { latestBoards[String(decoding: key, as: UTF8.self)] = record.value }
            if record.kind == .alert { alertsByRule[PipelineControl.ruleName(ofAlert: record.value), default: 0] += 1 }
            let record = record.kind == .alert ? record.stampingEmittedAt(now) : record
            pipeline.events.publish(record)
            let alert = record.kind == .alert ? (emittedMs: WallClock.monotonicMs(), eventTs: record.eventTime ?? now) : nil
            outputs.send(topic: settings.outputTopic(for: record.kind), key: record.key, value: record.value, alert: alert)
        }
    }

    private func publishStatus(idle: Bool) {
        let engine = self.engine
        pipeline.updateStatus {
            $0.consumed = consumed
            if let engine {
                $0.counters = engine.engine.counters
                $0.lastSnapshotAt = engine.lastSnapshotAt
                $0.trackedUsers = engine.engine.trackedUsers
                $0.partitionNewest = engine.engine.partitionNewest.filter { $0.value != .min }
                $0.assigned = engine.owned
                $0.watermark = engine.engine.watermark == .min ? nil : engine.engine.watermark
            }
            $0.paused = paused
            $0.idle = idle
            $0.latestBoards = latestBoards
            $0.alertsByRule = alertsByRule
            if engine.map({ !$0.owned.isEmpty }) ?? false { $0.ready = true }
            outputs.report(into: &$0)
            $0.noPartitionsSinceMs = noPartitionsSince
            $0.changelogRestores = restores
            $0.changelogWrites = epochWrites
            $0.changelogFailures = epochFailures
            $0.changelogBytes = epochBytes
        }
    }
}

/// A message delivered while its partition's snapshot time was begun.
struct HeldMessage {
    var partition: Int32
    var offset: Int64
    var payload: [UInt8]
    var key: [UInt8]
    var timestampMs: Int64?
}

/// The epoch the next rebalance restores (the newest complete one read so far), shared with the
/// consumer's start-offset callback, which runs inside `poll` on the same thread.
final class PlannedEpoch: Sendable {
    private let current = Mutex<EpochChoice?>(nil)

    func set(_ choice: EpochChoice?) {
        guard let choice else { return }
        current.withLock { now in if now?.epoch != choice.epoch { now = choice } }
    }

    /// The epoch the last assignment's start offsets were taken from.
    private let used = Mutex<EpochChoice?>(nil)

    /// The epoch the start offsets of the last assignment came from: the one to restore.
    var choice: EpochChoice? { used.withLock { $0 } }

    /// Where partition `p` resumes (-1: from the beginning), for the consumer's start offsets.
    func position(_ p: Int32) -> Int64 {
        let choice = current.withLock { $0 }
        used.withLock { $0 = choice }
        return choice?.position(p) ?? -1
    }
}
