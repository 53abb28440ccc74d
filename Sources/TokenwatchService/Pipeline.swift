import Foundation
import Kafka
import Logging
import Synchronization
import TokenwatchCore

/// What the live pipeline needs to know, mapped once from the configuration.
public struct PipelineSettings: Sendable {
    public var brokers: String
    public var groupId: String
    public var inputTopic: String
    public var leaderboardTopic: String
    public var alertsTopic: String
    public var deadletterTopic: String
    /// Passed to librdkafka as they are (SASL/SSL and tuning).
    public var librdkafka: [String: String]
    public var engine: EngineConfiguration
    public var stateDirectory: String
    /// How often outputs are flushed, state checkpointed and offsets committed (default 30s).
    public var checkpointIntervalMs: Int64 = 30_000
    /// Above this many unacknowledged outputs, consumption pauses (default 100000).
    public var maxInFlight = 100_000
    /// Messages taken per poll (default 5000).
    public var batchSize = 5_000

    public init(brokers: String, groupId: String, inputTopic: String, leaderboardTopic: String, alertsTopic: String,
                deadletterTopic: String, librdkafka: [String: String], engine: EngineConfiguration, stateDirectory: String) {
        self.brokers = brokers
        self.groupId = groupId
        self.inputTopic = inputTopic
        self.leaderboardTopic = leaderboardTopic
        self.alertsTopic = alertsTopic
        self.deadletterTopic = deadletterTopic
        self.librdkafka = librdkafka
        self.engine = engine
        self.stateDirectory = stateDirectory
    }
}

/// Live progress figures, readable from any thread.
public struct PipelineStatus: Sendable {
    public var consumed = 0
    public var counters = EngineCounters()
    public var watermark: Int64?
    public var lastSnapshotAt: Int64?
    public var assigned: [Int32] = []
    public var inFlight = 0
    public var lastCheckpointAtMs: Int64?
    public var ready = false
    public var paused = false

    // Production figures (health, metrics, systemd): updated between batches, never per event.

    /// Loop iterations, also counted while the loop waits for the broker; stops only when the loop is stuck.
    public var heartbeat: UInt64 = 0
    /// Whether the last poll found nothing to consume.
    public var idle = false
    /// Whether a stop was requested: the loop is draining.
    public var stopping = false
    /// The latest leaderboard JSON published per key `"<window>|<scope>"`.
    public var latestBoards: [String: [UInt8]] = [:]
    /// Per assigned partition: high watermark (as librdkafka last saw it) − next offset to process.
    public var lag: [Int32: Int64] = [:]
    /// Kafka timestamp → end of processing, sampled once per batch (its last message).
    public var processingLatency = LatencyHistogram()
    /// Time the engine spent on each batch.
    public var batchDuration = LatencyHistogram()
    /// Distinct users the engine holds, and per window the users active in it (last snapshot).
    public var trackedUsers = 0
    public var activeUsers: [(window: String, users: Int)] = []
    /// Alerts published, by rule.
    public var alertsByRule: [String: Int] = [:]
    /// The generation of the last reload the loop handled (see `Pipeline.requestReload`), and its error.
    public var reloadGeneration: UInt64 = 0
    public var reloadError: String?
}

/// The live daemon: consume → engine → produce, with commits only after outputs are acknowledged.
///
/// Everything runs on one dedicated thread that owns the engine, the consumer and the producer, so
/// the per-event path takes no locks. Every `checkpointIntervalMs` (and on stop) it waits until the
/// broker has acknowledged every output, writes the engine checkpoint atomically, and only then
/// commits the consumed offsets. A crash therefore replays from the last commit; the restored
/// engine skips what its checkpoint already counted and repeats outputs only byte-identically.
public final class Pipeline: Sendable {
    public let settings: PipelineSettings
    let logger: Logger
    private let stopFlag = Atomic<Bool>(false)
    private let statusBox = Mutex(PipelineStatus())
    /// Bumped by the loop (see `PipelineStatus.heartbeat`); an atomic so waits inside the loop can bump it.
    let heartbeat = Atomic<UInt64>(0)
    /// A reload and user queries handed to the loop; it looks at the flags once per iteration.
    let control = PipelineControl()

    public init(settings: PipelineSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    /// Asks the loop to drain, flush, checkpoint, commit and return.
    public func requestStop() { stopFlag.store(true, ordering: .relaxed) }

    public var status: PipelineStatus {
        var s = statusBox.withLock { $0 }
        s.heartbeat = heartbeat.load(ordering: .relaxed)
        s.stopping = stopFlag.load(ordering: .relaxed)
        return s
    }

    private func beat() { heartbeat.add(1, ordering: .relaxed) }

    /// Runs the loop on a dedicated thread until `requestStop()`; throws on a fatal error.
    public func run() async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, Error>) in
            let thread = Thread { [self] in
                do {
                    try self.loop()
                    continuation.resume()
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.name = "tokenwatch-pipeline"
            thread.start()
        }
    }

    private func kafkaConfiguration() -> [String: String] {
        var c = settings.librdkafka
        c["bootstrap.servers"] = settings.brokers
        return c
    }

    // MARK: - The loop (pipeline thread only)

    private struct InFlight {
        var topic: String
        var record: OutputRecord
    }

    private func loop() throws {
        let store = CheckpointStore(directory: settings.stateDirectory)
        var engine = try restoreEngine(store)

        var consumerConfig = kafkaConfiguration()
        consumerConfig["group.id"] = settings.groupId
        consumerConfig["auto.offset.reset"] = consumerConfig["auto.offset.reset"] ?? "earliest"
        let consumer = try KafkaConsumer(configuration: consumerConfig, logger: logger)
        defer { consumer.close() }
        let producer = try KafkaProducer(configuration: kafkaConfiguration(), logger: logger)
        try consumer.subscribe(topics: [settings.inputTopic])
        logger.info("pipeline started", metadata: ["input": "\(settings.inputTopic)", "group": "\(settings.groupId)"])

        var inFlight: [UInt64: InFlight] = [:]
        var nextToken: UInt64 = 1
        var lastActivity: [Int32: Int64] = [:]
        var allQuietSince: Int64?
        var lastCommit = WallClock.monotonicMs()
        var consumed = 0
        var paused = false
        // Partitions the group gave this instance. The restored engine also knows the partitions of its
        // checkpoint, but only assigned ones may be committed: a synchronous commit before the group
        // join completes blocks the loop (the restarted daemon then never gets its assignment), and
        // committing a partition another instance owns would move that instance's offsets.
        var assigned = Set<Int32>()
        var latestBoards: [String: [UInt8]] = [:]
        var boardsChanged = false
        var alertsByRule: [String: Int] = [:]
        var processingLatency = LatencyHistogram()
        var batchDuration = LatencyHistogram()
        var lag: [Int32: Int64] = [:]
        var lastLagAt: Int64 = 0

        func topic(for kind: OutputRecord.Kind) -> String {
            switch kind {
            case .leaderboard: settings.leaderboardTopic
            case .alert: settings.alertsTopic
            case .deadLetter: settings.deadletterTopic
            }
        }

        func handle(_ reports: [DeliveryReport]) {
            for report in reports {
                guard let item = inFlight[report.token] else { continue }
                if let error = report.error {
                    // Never lose an output: send it again until the broker takes it.
                    logger.warning("output not delivered; retrying", metadata: ["topic": "\(item.topic)", "error": "\(error)"])
                    send(item, token: report.token)
                } else {
                    inFlight[report.token] = nil
                }
            }
        }

        func send(_ item: InFlight, token: UInt64) {
            while true {
                do {
                    try producer.produce(topic: item.topic, key: item.record.key, value: item.record.value, token: token)
                    inFlight[token] = item
                    return
                } catch {
                    if !error.isRetriable && error.isFatal {
                        logger.error("producer failed", metadata: ["error": "\(error)"])
                    }
                    // Local queue full or transient: serve delivery reports, then try again.
                    handle(producer.pollDeliveries(timeout: .milliseconds(50)))
                    beat()
                    if stopFlag.load(ordering: .relaxed) && inFlight.count > settings.maxInFlight * 2 { return }
                }
            }
        }

        func publish(_ records: [OutputRecord]) {
            for record in records {
                switch record.kind {
                case .leaderboard:
                    if let key = record.key {
                        latestBoards[String(decoding: key, as: UTF8.self)] = record.value
                        boardsChanged = true
                    }
                case .alert:
                    alertsByRule[PipelineControl.ruleName(ofAlert: record.value), default: 0] += 1
                case .deadLetter:
                    break
                }
                let token = nextToken
                nextToken += 1
                // The core writes event time into an alert's `emitted_at`; live, it is the wall clock.
                let record = record.kind == .alert ? record.stampingEmittedAt(WallClock.nowMs()) : record
                send(InFlight(topic: topic(for: record.kind), record: record), token: token)
            }
        }

        /// Outputs acknowledged → checkpoint written → offsets committed, in that order.
        func commitCycle(final: Bool) throws {
            let deadline = WallClock.monotonicMs() + (final ? 20_000 : Int64.max / 2)
            while !inFlight.isEmpty {
                handle(producer.pollDeliveries(timeout: .milliseconds(100)))
                beat()
                if WallClock.monotonicMs() > deadline {
                    logger.error("outputs still unacknowledged at shutdown; not committing", metadata: ["inFlight": "\(inFlight.count)"])
                    return
                }
                if !final && stopFlag.load(ordering: .relaxed) { return }
            }
            try store.save(engine.checkpoint())
            let offsets = engine.positions.compactMap { (p, next) -> TopicPartitionOffset? in
                next >= 0 && assigned.contains(p) ? TopicPartitionOffset(topic: settings.inputTopic, partition: p, offset: next) : nil
            }
            if !offsets.isEmpty {
                do {
                    try consumer.commit(offsets)
                } catch {
                    // The checkpoint already holds these positions; the next cycle commits again.
                    logger.warning("offset commit failed", metadata: ["error": "\(error)"])
                }
            }
            let now = WallClock.nowMs()
            statusBox.withLock { $0.lastCheckpointAtMs = now }
        }

        while !stopFlag.load(ordering: .relaxed) {
            beat()
            if let reload = control.serve(&engine, logger: logger) {
                statusBox.withLock {
                    $0.reloadGeneration = reload.generation
                    $0.reloadError = reload.error
                }
            }
            for event in consumer.takeRebalanceEvents() {
                switch event {
                case .assigned(let parts):
                    let ids = parts.filter { $0.topic == settings.inputTopic }.map(\.partition)
                    engine.assign(partitions: ids)
                    assigned.formUnion(ids)
                    let now = WallClock.monotonicMs()
                    for id in ids where lastActivity[id] == nil { lastActivity[id] = now }
                    logger.info("partitions assigned", metadata: ["partitions": "\(ids.sorted())"])
                case .revoked(let parts):
                    try commitCycle(final: true)
                    let ids = parts.map(\.partition)
                    engine.revoke(partitions: ids)
                    assigned.subtract(ids)
                    for id in ids { lastActivity[id] = nil }
                    logger.info("partitions revoked", metadata: ["partitions": "\(ids.sorted())"])
                }
                statusBox.withLock {
                    $0.assigned = engine.positions.keys.sorted()
                    $0.ready = true
                }
            }

            // Back-pressure: with too much unacknowledged output, stop taking input.
            if inFlight.count > settings.maxInFlight {
                if !paused, let parts = try? consumer.assignment() {
                    try? consumer.pause(parts)
                    paused = true
                    logger.warning("output backlog; pausing consumption", metadata: ["inFlight": "\(inFlight.count)"])
                }
            } else if paused, let parts = try? consumer.assignment() {
                try? consumer.resume(parts)
                paused = false
                logger.info("output backlog drained; resuming consumption")
            }

            let now = WallClock.nowMs()
            let monotonic = WallClock.monotonicMs()
            var lastTimestamp: Int64?
            var batchStart: Int64?
            let n = consumer.poll(maxMessages: settings.batchSize, timeout: .milliseconds(100)) { message in
                if batchStart == nil { batchStart = WallClock.monotonicMs() }  // not the wait for the first message
                if let error = message.error {
                    logger.warning("consumer error", metadata: ["error": "\(error)"])
                    return
                }
                lastActivity[message.partition] = monotonic
                lastTimestamp = message.timestampMs
                engine.process(message.payload, partition: message.partition, offset: message.offset,
                               receivedAtMs: now, referenceTimeMs: message.timestampMs)
            }
            consumed += n
            if n > 0, let start = batchStart {
                batchDuration.observe(milliseconds: WallClock.monotonicMs() - start)
                if let ts = lastTimestamp { processingLatency.observe(milliseconds: WallClock.nowMs() - ts) }
            }
            if monotonic - lastLagAt >= 1_000 {
                // librdkafka's cached high watermarks: no broker request.
                lastLagAt = monotonic
                lag = [:]
                for (p, next) in engine.positions where next >= 0 {
                    if let w = consumer.cachedWatermarks(topic: settings.inputTopic, partition: p) { lag[p] = max(0, w.high - next) }
                }
            }

            let idleAfter = settings.engine.idleTimeoutMs
            let idle = Set(lastActivity.filter { monotonic - $0.value > idleAfter }.keys)
            var quietAdvance: Int64 = 0
            if !lastActivity.isEmpty && idle.count == lastActivity.count {
                let since = allQuietSince ?? (lastActivity.values.max() ?? monotonic)
                allQuietSince = since
                quietAdvance = monotonic - since
            } else {
                allQuietSince = nil
            }
            engine.emitDueSnapshots(idle: idle, quietAdvanceMs: quietAdvance)
            publish(engine.takeOutputs())
            handle(producer.pollDeliveries(timeout: .zero))

            statusBox.withLock {
                $0.consumed = consumed
                $0.counters = engine.counters
                $0.watermark = engine.watermark == .min ? nil : engine.watermark
                $0.lastSnapshotAt = engine.lastSnapshotAt
                $0.inFlight = inFlight.count
                $0.paused = paused
                $0.idle = n == 0
                if boardsChanged { $0.latestBoards = latestBoards }
                $0.alertsByRule = alertsByRule
                $0.processingLatency = processingLatency
                $0.batchDuration = batchDuration
                $0.lag = lag
                $0.trackedUsers = engine.trackedUsers
                $0.activeUsers = engine.activeUsersPerWindow
            }
            boardsChanged = false

            if monotonic - lastCommit >= settings.checkpointIntervalMs {
                try commitCycle(final: false)
                lastCommit = WallClock.monotonicMs()
            }
        }
        logger.info("stopping: flushing outputs, checkpointing, committing")
        try commitCycle(final: true)
        logger.info("stopped", metadata: ["consumed": "\(consumed)"])
    }

    private func restoreEngine(_ store: CheckpointStore) throws -> Engine {
        guard let bytes = try store.load() else {
            logger.info("no checkpoint; starting with empty state", metadata: ["path": "\(store.path)"])
            return Engine(configuration: settings.engine, inputTopic: settings.inputTopic)
        }
        do {
            let engine = try Engine(configuration: settings.engine, inputTopic: settings.inputTopic, restoring: bytes)
            logger.info("state restored from checkpoint", metadata: ["path": "\(store.path)", "users": "\(engine.users.count)",
                                                                      "positions": "\(engine.positions.sorted { $0.key < $1.key })"])
            return engine
        } catch {
            logger.error("checkpoint not usable; starting with empty state", metadata: ["path": "\(store.path)", "reason": "\(error)"])
            return Engine(configuration: settings.engine, inputTopic: settings.inputTopic)
        }
    }
}
