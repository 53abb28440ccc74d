import Kafka
import Logging
import Synchronization
import TokenwatchCore

/// The live pipeline's loop and everything it owns (engine, consumer, outputs), on the pipeline thread.
///
/// Exactness rules it keeps:
/// - The checkpoint positions, not the group's committed offsets, say where each partition resumes
///   (`KafkaConsumer.setStartOffsets`); a partition without state is read from its beginning, so state
///   is never "empty on committed offsets".
/// - Every partition of the input topic holds the watermark until this instance has consumed it, so a
///   board is published only from the state of every partition, never from a part of them.
/// - A revoked partition keeps its state (positions, de-duplication memory): if the group gives it back
///   (a pause longer than the session timeout), reading resumes where the state ends, nothing twice.
/// - An event whose message key is not its `user_id` is de-duplicated across partitions (see
///   `Engine.process(_:partition:offset:receivedAtMs:referenceTimeMs:checkingKey:)`): a producer that
///   does not key by user cannot make one event count twice.
final class LiveLoop {
    let pipeline: Pipeline
    let settings: PipelineSettings
    let logger: Logger
    private let lock: StateDirectoryLock
    let store: CheckpointStore
    let consumer: KafkaConsumer
    private var outputs: OutputSender
    let identity: StateIdentity
    var engine: ShardedEngine
    /// With several shards, each poll's messages are copied per shard and counted in parallel.
    private var batches: ShardBatches
    /// The threads the shards run on (the pipeline thread runs shard 0).
    let workers: ShardWorkers
    /// Input topics ↔ engine partition ids, and each message to the engine in its input's format.
    private var router: InputRouter
    var inputs: InputTopics { identity.inputs }
    /// The engine's positions as of the last batch, for the rebalance callback (which runs inside `poll`).
    private let positions = PositionBoard()

    private var assigned = Set<Int32>()
    private var lastActivity: [Int32: Int64] = [:]
    private var allQuietSince: Int64?
    private var lastCommit = WallClock.monotonicMs()
    private var consumed = 0
    private var paused = false
    private var latestBoards: [String: [UInt8]] = [:]
    private var boardsChanged = false
    private var alertsByRule: [String: Int] = [:]
    private var processingLatency = LatencyHistogram()
    private var batchDuration = LatencyHistogram()
    /// Time to emit the snapshot times one batch made due (boards, boundary rules, alerts), when any.
    private var snapshotDuration = LatencyHistogram()
    private var lag: [Int32: Int64] = [:]
    private var lastLagAt: Int64 = 0
    private var catchingUp: Bool
    private var noPartitionsSince: Int64? = WallClock.monotonicMs()
    private var stalledSince: Int64?
    private var consumedAtLastLag = 0
    /// A periodic checkpoint being written on its own thread (its offsets are committed when it is durable).
    private var checkpointInFlight: BackgroundCheckpoint?
    /// How long the loop itself stopped for each checkpoint (waiting for acknowledgements, copying the state).
    private var checkpointPause = LatencyHistogram()
    /// Publishes the active instance's checkpoints to the changelog topic (nil: `state.changelog: false`).
    private let changelogWriter: ChangelogWriter?
    /// On a stop, how long the changelog may wait for the brokers, counted from the stop (like the outputs'
    /// 20 s): with closing both consumers (10 s each at most), a stop stays inside the unit's
    /// `TimeoutStopSec` (45 s) even with the cluster gone.
    static let stopChangelogWaitMs: Int64 = 15_000
    /// Follows the changelog while this instance stands by, so it takes over from the active one's state.
    var changelogReader: ChangelogReader?
    /// Whether this instance is the active one (it consumes and publishes).
    private var active = false

    /// Locks the state directory, connects, and restores or rebuilds the state; nil when a stop came first.
    static func start(pipeline: Pipeline) throws -> LiveLoop? {
        do {
            return try LiveLoop(pipeline: pipeline)
        } catch is StoppedWhileStarting {
            return nil
        }
    }

    struct StoppedWhileStarting: Error {}

    private init(pipeline: Pipeline) throws {
        self.pipeline = pipeline
        settings = pipeline.settings
        logger = pipeline.logger
        lock = try StateDirectoryLock(directory: settings.stateDirectory)
        store = CheckpointStore(directory: settings.stateDirectory)

        var consumerConfig = pipeline.kafkaConfiguration()
        consumerConfig["group.id"] = settings.groupId
        consumerConfig["auto.offset.reset"] = consumerConfig["auto.offset.reset"] ?? "earliest"
        consumer = try KafkaConsumer(configuration: consumerConfig, logger: logger)
        // Reports served on their own thread carry the acknowledgement's time (the alert-latency histograms).
        let producer = try KafkaProducer(configuration: pipeline.kafkaConfiguration(), logger: logger, servesReportsOnOwnThread: true)
        outputs = OutputSender(producer: producer, logger: logger, eventToAckBounds: LatencyHistogram.bounds(
            after: Double(settings.engine.allowedLatenessMs) / 1000, coarseSeconds: Double(settings.engine.snapshotIntervalMs) / 1000))
        identity = try Self.identify(consumer: consumer, settings: settings, pipeline: pipeline)
        if let topic = settings.changelogTopic {
            // Compacted: only each chunk key's latest value is needed (see `ChangelogRecord`).
            _ = InternalTopic.ensure(topic, partitions: 1, configs: ["cleanup.policy": "compact"], consumer: consumer,
                                     configuration: pipeline.kafkaConfiguration(), logger: logger)
            changelogWriter = try ChangelogWriter(topic: topic, group: settings.groupId, configuration: pipeline.kafkaConfiguration(), logger: logger)
            changelogReader = try Self.changelogReader(topic: topic, pipeline: pipeline)
        } else {
            changelogWriter = nil
            changelogReader = nil
        }
        var restored = try Self.restore(store: store, identity: identity, settings: settings, logger: logger)
        if restored.rebuildReason == nil,
           let reason = Self.inconsistentPositions(restored.engine, consumer: consumer, inputs: identity.inputs, logger: logger) {
            logger.error("checkpoint not usable; rebuilding state from the input's earliest retained offsets",
                         metadata: ["path": "\(store.path)", "reason": "\(reason)"])
            restored = (Self.emptyEngine(settings: settings, identity: identity), reason)
        }
        engine = restored.engine
        workers = ShardWorkers(shards: engine.shards.count)
        Self.attach(&engine, workers: workers, identity: identity)
        batches = ShardBatches(shards: engine.shards.count)
        router = InputRouter(identity.inputs)
        catchingUp = restored.rebuildReason != nil
        pipeline.updateStatus {
            $0.inputSources = identity.inputs.sources
            $0.rebuildReason = restored.rebuildReason
            $0.catchingUp = catchingUp
        }
    }

    deinit { consumer.close() }

    // MARK: - Start

    /// The cluster id and the input's partition count; waits (serving stop) until the brokers answer.
    static func identify(consumer: KafkaConsumer, settings: PipelineSettings, pipeline: Pipeline) throws -> StateIdentity {
        var warned = false
        while true {
            if let cluster = consumer.clusterId(timeout: .seconds(2)),
               let inputs = InputTopics.discover(settings.effectiveInputs, consumer: consumer) {
                return StateIdentity(clusterId: cluster, groupId: settings.groupId, inputs: inputs)
            }
            if pipeline.stopRequested { throw StoppedWhileStarting() }
            // Serve the queue meanwhile: librdkafka's log lines (authentication failures among them) arrive there.
            _ = consumer.poll(maxMessages: 1, timeout: .milliseconds(200)) { _ in }
            if !warned {
                pipeline.logger.warning("waiting for the brokers to report the cluster id and the input topic's partitions",
                                        metadata: ["brokers": "\(settings.brokers)", "topics": "\(settings.effectiveInputs.map(\.topic))"])
                warned = true
            }
            pipeline.beatNow()
        }
    }

    /// The checkpoint when it belongs to this cluster, group and topic and is intact; otherwise empty
    /// state to be rebuilt from the input (a damaged file, other settings, another partition count),
    /// or a refusal (another cluster, group or topic: the state directory is someone else's).
    static func restore(store: CheckpointStore, identity: StateIdentity, settings: PipelineSettings,
                        logger: Logger) throws -> (engine: ShardedEngine, rebuildReason: String?) {
        let empty = emptyEngine(settings: settings, identity: identity)
        func rebuild(_ reason: String, error: Bool = true) -> (ShardedEngine, String?) {
            let message = "rebuilding state from the input's earliest retained offsets"
            if error {
                logger.error("checkpoint not usable; \(message)", metadata: ["path": "\(store.path)", "reason": "\(reason)"])
            } else {
                logger.info("\(reason); \(message)", metadata: ["path": "\(store.path)"])
            }
            return (empty, reason)
        }
        let bytes: [UInt8]
        do {
            guard let loaded = try store.load() else { return rebuild("no checkpoint", error: false) }
            bytes = loaded
        } catch {
            return rebuild("unreadable: \(error)")
        }
        let stamped: StampedCheckpoint
        do {
            stamped = try CheckpointFile.decode(bytes)
        } catch {
            return rebuild(error.description)
        }
        let found = stamped.identity
        if let reason = try identity.rebuildReason(restoring: found, path: store.path) { return rebuild(reason) }
        do {
            let engine = try ShardedEngine(configuration: settings.engine, inputTopic: settings.inputTopic, shards: empty.shards.count,
                                           keyedPartitions: empty.keyedPartitions, keyedBase: empty.keyedBase,
                                           restoring: stamped.engineBytes)
            logger.info("state restored from checkpoint", metadata: [
                "path": "\(store.path)", "users": "\(engine.trackedUsers)", "cluster": "\(found.clusterId)",
                "threads": "\(engine.shards.count)",
                "positions": "\(engine.positions.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: " "))",
            ])
            return (engine, nil)
        } catch {
            return rebuild("\(error)")
        }
    }

    /// Empty state, with the input's partitions spread over `engine.threads` shards.
    static func emptyEngine(settings: PipelineSettings, identity: StateIdentity) -> ShardedEngine {
        // Users are keyed over the first native input (OTLP batches mix users: they go to the users' shards).
        let keyed = identity.inputs.inputs.first { $0.format == .tokenwatch } ?? identity.inputs.inputs[0]
        return ShardedEngine(configuration: settings.engine, inputTopic: settings.inputTopic,
                             shards: settings.shardCount(partitions: identity.partitions),
                             keyedPartitions: Int32(keyed.partitions), keyedBase: keyed.firstId)
    }

    /// Checks the restored positions against the brokers' offsets. A position past a partition's end
    /// means the topic is not the one the state was built from (recreated, or truncated): the reason to
    /// rebuild. A position before the log start means retention deleted events before they were read:
    /// nothing can bring them back, so it is reported (log and `tokenwatch_input_gap_messages`) and kept.
    static func inconsistentPositions(_ engine: ShardedEngine, consumer: KafkaConsumer, inputs: InputTopics,
                                              logger: Logger) -> String? {
        for (partition, next) in engine.positions.sorted(by: { $0.key < $1.key }) where next >= 0 {
            guard let source = inputs.source(of: partition),
                  let w = try? consumer.watermarks(topic: source.topic, partition: source.partition, timeout: .seconds(10)) else {
                continue  // not answered now: the consumer will find out when it fetches
            }
            if next > w.high {
                return "\(source.topic) partition \(source.partition) resumes at offset \(next), past its end at \(w.high): the topic is not the one this state was built from"
            }
            if next < w.low {
                logger.error("events were deleted by retention before they were read; the boards lack them", metadata: [
                    "topic": "\(source.topic)", "partition": "\(source.partition)", "resumes_at": "\(next)", "log_start": "\(w.low)", "lost": "\(w.low - next)",
                ])
            }
        }
        return nil
    }

    // MARK: - The loop

    func run() throws {
        publishPositions()
        consumer.setStartOffsets { [positions, inputs] topic, partition in
            // Resume where the state ends; a partition without state is read from its beginning.
            let next = inputs.engineId(topic: topic, partition: partition).flatMap { positions.next($0) } ?? -1
            return next >= 0 ? next : TopicPartitionOffset.beginning
        }
        let election = try LeaderElection(settings: settings, configuration: pipeline.kafkaConfiguration(), logger: logger)
        logger.info("pipeline started; waiting for the election", metadata: [
            "inputs": "\(inputs.headerText)", "group": "\(settings.groupId)", "partitions": "\(identity.partitions)",
            "threads": "\(engine.shards.count)",
            "cluster": "\(identity.clusterId)", "election": "\(election.topic)",
        ])
        while !pipeline.stopRequested {
            pipeline.beatNow()
            if let active = election.poll() { try changeRole(active: active) }
            if !active { changelogReader?.poll() }
            if election.settled { pipeline.updateStatus { $0.roleKnown = true } }
            if let reload = pipeline.control.serve(&engine, logger: logger) {
                pipeline.updateStatus {
                    $0.reloadGeneration = reload.generation
                    $0.reloadError = reload.error
                }
            }
            try handleRebalances()
            applyBackPressure()
            let n = pollBatch()
            refreshLag()
            emitSnapshots()
            outputs.serveDeliveries(timeout: .zero)
            publishStatus(idle: n == 0)
            try commitFinishedCheckpoint()
            if WallClock.monotonicMs() - lastCommit >= settings.checkpointIntervalMs && checkpointInFlight == nil {
                try commitCycle(final: false)
                lastCommit = WallClock.monotonicMs()
            }
        }
        logger.info("stopping: flushing outputs, checkpointing, committing")
        // Outputs wait up to 20 s (`commitCycle`); the changelog's acknowledgements up to this, from now.
        changelogWriter?.stopWaiting(afterMs: Self.stopChangelogWaitMs)
        try commitCycle(final: true)
        // Leave the input group first, then the election, so a standby finds the partitions free.
        consumer.close()
        election.resign()
        logger.info("stopped", metadata: ["consumed": "\(consumed)"])
        withExtendedLifetime(lock) {}
    }

    /// Becoming active subscribes to the input; becoming a standby (the group gave the election
    /// partition to another instance) flushes, checkpoints and leaves the input group.
    private func changeRole(active: Bool) throws {
        if active {
            adoptChangelogState()
            changelogReader = nil
            logger.info("active: this instance consumes the input and publishes")
            try consumer.subscribe(topics: inputs.topics)
        } else {
            logger.warning("standby: another instance is active; leaving the input group")
            try commitCycle(final: true)
            try consumer.unsubscribe()
            do {
                changelogReader = try settings.changelogTopic.map { try Self.changelogReader(topic: $0, pipeline: pipeline) }
            } catch {
                logger.error("cannot follow the changelog; a takeover will use this instance's own state", metadata: ["error": "\(error)"])
            }
        }
        self.active = active
        pipeline.updateStatus { $0.active = active }
    }

    func publishPositions() {
        positions.set(engine.positions)
    }

    private func handleRebalances() throws {
        for event in consumer.takeRebalanceEvents() {
            switch event {
            case .assigned(let parts):
                let ids = inputs.engineIds(parts)
                engine.assign(partitions: ids)
                assigned.formUnion(ids)
                let now = WallClock.monotonicMs()
                for id in ids where lastActivity[id] == nil { lastActivity[id] = now }
                logger.info("partitions assigned", metadata: ["partitions": "\(ids.sorted())"])
            case .revoked(let parts):
                // Outputs acknowledged and state checkpointed before the partitions go; the commit may fail
                // (the group moved on after a long pause), which is harmless: the checkpoint holds the positions.
                try commitCycle(final: true)
                let ids = inputs.engineIds(parts)
                assigned.subtract(ids)
                for id in ids { lastActivity[id] = nil }
                logger.info("partitions revoked; their state is kept", metadata: ["partitions": "\(ids.sorted())"])
            }
            noPartitionsSince = assigned.isEmpty ? (noPartitionsSince ?? WallClock.monotonicMs()) : nil
        }
    }

    /// With too much unacknowledged output, or outputs refused by Kafka, stop taking input.
    private func applyBackPressure() {
        let hold = outputs.unacknowledged > settings.maxInFlight || outputs.blockage != nil
        if hold && !paused, let parts = try? consumer.assignment() {
            try? consumer.pause(parts)
            paused = true
            logger.warning("output backlog; pausing consumption", metadata: ["unacknowledged": "\(outputs.unacknowledged)"])
        } else if !hold && paused, let parts = try? consumer.assignment() {
            try? consumer.resume(parts)
            paused = false
            logger.info("output backlog drained; resuming consumption")
        }
    }

    private func pollBatch() -> Int {
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
            lastTimestamp = message.timestampMs
            guard let (id, format) = router.route(message) else { return }
            lastActivity[id] = monotonic
            if engine.shards.count == 1 {
                engine.withShardAccess { access in
                    access.withShard(0) { shard in
                        InputRouter.process(message.payload, format: format, into: &shard, partition: id, offset: message.offset,
                                            receivedAtMs: now, referenceTimeMs: message.timestampMs, key: message.key)
                    }
                }
            } else {
                batches.append(shard: engine.shard(ofPartition: id), payload: message.payload, key: message.key, format: format,
                               partition: id, offset: message.offset, timestampMs: message.timestampMs)
            }
        }
        if !batches.isEmpty { batches.process(into: &engine, receivedAtMs: now) }
        consumed += n
        if n > 0, let start = batchStart {
            batchDuration.observe(milliseconds: WallClock.monotonicMs() - start)
            if let ts = lastTimestamp { processingLatency.observe(milliseconds: WallClock.nowMs() - ts) }
            publishPositions()
        }
        return n
    }

    /// Lag from librdkafka's cached high watermarks (no broker request), once a second; ends catching up.
    private func refreshLag() {
        let monotonic = WallClock.monotonicMs()
        guard monotonic - lastLagAt >= 1_000 else { return }
        lastLagAt = monotonic
        lag = [:]
        var known = true
        let positions = engine.positions
        for p in assigned {
            let next = positions[p] ?? -1
            if let source = inputs.source(of: p), let w = consumer.cachedWatermarks(topic: source.topic, partition: source.partition),
               w.high >= 0 {
                lag[p] = next >= 0 ? max(0, w.high - next) : max(0, w.high - w.low)
            } else {
                known = false
            }
        }
        let behind = lag.values.reduce(0, +)
        if catchingUp && known && !assigned.isEmpty && behind == 0 {
            catchingUp = false
            logger.info("caught up with the input", metadata: ["consumed": "\(consumed)"])
        }
        if behind > 0 && consumed == consumedAtLastLag && !paused {
            stalledSince = stalledSince ?? monotonic
        } else {
            stalledSince = nil
        }
        consumedAtLastLag = consumed
    }

    private func emitSnapshots() {
        let monotonic = WallClock.monotonicMs()
        let idleAfter = settings.engine.idleTimeoutMs
        // Only assigned partitions can be idle: one this instance has not consumed holds the boards back.
        let idle = Set(lastActivity.filter { monotonic - $0.value > idleAfter }.keys)
        var quietAdvance: Int64 = 0
        if idle.count == identity.partitions && assigned.count == identity.partitions {
            let since = allQuietSince ?? (lastActivity.values.max() ?? monotonic)
            allQuietSince = since
            quietAdvance = monotonic - since
        } else {
            allQuietSince = nil
        }
        let watermarkSeenAt = WallClock.monotonicMs()  // the batch that moved the watermark has just been counted
        // Alerts go to the producer as soon as their rules ran, before that snapshot time's boards are built.
        let emitted = engine.emitDueSnapshots(idle: idle, quietAdvanceMs: quietAdvance) { alerts in
            self.publish(alerts, emittedAtMs: watermarkSeenAt)
        }
        if emitted > 0 {
            snapshotDuration.observe(milliseconds: WallClock.monotonicMs() - watermarkSeenAt)
        }
        publish(engine.takeOutputs(), emittedAtMs: watermarkSeenAt)
    }

    private func publish(_ records: [OutputRecord], emittedAtMs: Int64) {
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
            // The core writes event time into an alert's `emitted_at`; live, it is the wall clock.
            let record = record.kind == .alert ? record.stampingEmittedAt(WallClock.nowMs()) : record
            pipeline.events.publish(record)  // the dashboard's live feed; a queue append, never blocks
            // Alerts carry what the latency histograms measure from: when the watermark passed their
            // snapshot time, and that snapshot time (the event time the alert describes up to).
            let alert = record.kind == .alert ? (emittedMs: emittedAtMs, eventTs: record.eventTime ?? WallClock.nowMs()) : nil
            outputs.send(topic: settings.outputTopic(for: record.kind), key: record.key, value: record.value, alert: alert)
        }
    }

    private func publishStatus(idle: Bool) {
        let ready = !assigned.isEmpty && !catchingUp
        pipeline.updateStatus {
            $0.consumed = consumed
            $0.counters = engine.counters
            $0.watermark = engine.watermark == .min ? nil : engine.watermark
            $0.lastSnapshotAt = engine.lastSnapshotAt
            $0.paused = paused
            $0.idle = idle
            if boardsChanged { $0.latestBoards = latestBoards }
            $0.alertsByRule = alertsByRule
            $0.processingLatency = processingLatency
            $0.batchDuration = batchDuration
            $0.snapshotDuration = snapshotDuration
            $0.lag = lag
            $0.partitionNewest = engine.partitionNewest.filter { assigned.contains($0.key) && $0.value != .min }
            $0.trackedUsers = engine.trackedUsers
            $0.attribution = engine.attribution
            $0.metricSeries = engine.metricSeries
            $0.activeUsers = engine.activeUsersPerWindow
            $0.assigned = assigned.sorted()
            // READY once: after a rebuild, when it has caught up.
            if ready { $0.ready = true }
            $0.catchingUp = catchingUp
            outputs.report(into: &$0)
            $0.noPartitionsSinceMs = noPartitionsSince
            $0.stalledSinceMs = stalledSince
        }
        boardsChanged = false
    }

    /// Outputs acknowledged → checkpoint written → offsets committed, in that order. A periodic cycle
    /// writes the checkpoint on its own thread (`BackgroundCheckpoint`) and commits when it is durable;
    /// the final cycle (stop, revoke, standby) first lets a running one finish, then writes and commits
    /// at once. The final cycle waits at most 20 s for acknowledgements, then leaves without committing:
    /// the next start repeats those outputs byte for byte instead of losing them.
    private func commitCycle(final: Bool) throws {
        let began = WallClock.monotonicMs()
        let deadline = began + (final ? 20_000 : Int64.max / 2)
        while outputs.unacknowledged > 0 {
            outputs.serveDeliveries(timeout: .milliseconds(100))
            pipeline.beatNow()
            if WallClock.monotonicMs() > deadline {
                logger.error("outputs still unacknowledged; not checkpointing or committing",
                             metadata: ["unacknowledged": "\(outputs.unacknowledged)", "blocked": "\(outputs.blockage?.error ?? "no")"])
                return
            }
            // A stop request ends a periodic cycle at once (the final one follows); so does a blockage.
            if !final && (pipeline.stopRequested || outputs.blockage != nil) { return }
        }
        if !final {
            checkpointInFlight = BackgroundCheckpoint(engine: engine, identity: identity, store: store, changelog: changelog)
            checkpointPause.observe(milliseconds: WallClock.monotonicMs() - began)
            return
        }
        if let running = checkpointInFlight {
            checkpointInFlight = nil
            try commit(running, written: running.wait())
        }
        let now = BackgroundCheckpoint(engine: engine, identity: identity, store: store, changelog: changelog)
        try commit(now, written: now.wait())
    }

    /// Only the active instance writes the changelog: a standby's state is older than what is there.
    private var changelog: ChangelogWriter? { active ? changelogWriter : nil }

    /// Commits the offsets of a background checkpoint once its file is durable.
    private func commitFinishedCheckpoint() throws {
        guard let running = checkpointInFlight, let written = running.finished else { return }
        checkpointInFlight = nil
        try commit(running, written: written)
    }

    /// After a checkpoint was written (or failed to be: rethrown), commits its offsets for the partitions
    /// this instance still holds.
    private func commit(_ checkpoint: BackgroundCheckpoint, written: Result<Int64, any Error>) throws {
        let writeMs = try written.get()
        let offsets = checkpoint.offsets
        recordChangelog(checkpoint.changelogResult)
        let commits = offsets.compactMap { (id, next) -> TopicPartitionOffset? in
            next >= 0 && assigned.contains(id) ? inputs.offset(of: id, next: next) : nil
        }
        // Not waited for: the checkpoint already holds these positions, and they, not the commit, say where
        // to resume; a coordinator that is gone must not stall the loop (or a stop) for a session timeout.
        do {
            try consumer.commitAsync(commits)
        } catch {
            logger.warning("offset commit failed", metadata: ["error": "\(error)"])
        }
        let now = WallClock.nowMs()
        let pause = checkpointPause
        pipeline.updateStatus {
            $0.lastCheckpointAtMs = now
            $0.lastCheckpointWriteMs = writeMs
            $0.checkpointPause = pause
        }
    }
}

extension LiveLoop {
    // MARK: - The changelog

    /// Taking over: when the changelog holds a state further along than this instance's own (a standby
    /// that never ran, or one whose checkpoint is older than the last active instance's), restores it,
    /// so reading resumes where the last active instance's checkpoint ends instead of re-reading the input.
    /// A state that does not fit (another deployment, other inputs or thread count, damaged, positions past
    /// the brokers' ends) is passed over with the reason logged; the own state is used then.
    func adoptChangelogState() {
        guard let reader = changelogReader else { return }
        let began = WallClock.monotonicMs()
        let (newest, complete) = reader.catchUp(timeout: .seconds(20)) { pipeline.beatNow() }
        let readMs = WallClock.monotonicMs() - began
        if !complete { logger.warning("the changelog could not be read to its end; using the newest state read", metadata: ["topic": "\(reader.topic)"]) }
        let ownProgress = ChangelogRecord.Stamp.progress(of: engine.positions)
        guard let newest, newest.stamp.progress > ownProgress else {
            logger.info("own state is as far along as the changelog's; keeping it",
                        metadata: ["changelog_progress": "\(newest?.stamp.progress ?? -1)", "own_progress": "\(ownProgress)"])
            return
        }
        do {
            let restored = try decodeChangelogState(newest.file, from: reader.topic)
            install(restored)
            try? store.save(newest.file)  // a crash right after the takeover restores it from the file
            let tookMs = WallClock.monotonicMs() - began
            logger.info("state restored from the changelog", metadata: [
                "topic": "\(reader.topic)", "bytes": "\(newest.file.count)", "users": "\(engine.trackedUsers)", "ms": "\(tookMs)",
                "read_ms": "\(readMs)",
                "positions": "\(engine.positions.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" }.joined(separator: " "))",
            ])
            pipeline.updateStatus {
                $0.rebuildReason = nil  // not rebuilt: restored, and reading on from the changelog state's positions
                $0.changelogRestores += 1
                $0.lastChangelogRestoreMs = tookMs
            }
        } catch {
            logger.error("the changelog's state is not usable; keeping this instance's own", metadata: ["topic": "\(reader.topic)", "reason": "\(error)"])
        }
    }

    /// The engine in a changelog checkpoint, when it is this deployment's, fits this daemon's inputs and
    /// threads, and its positions are within the brokers' offsets.
    private func decodeChangelogState(_ file: [UInt8], from topic: String) throws -> ShardedEngine {
        let stamped = try CheckpointFile.decode(file)
        if let reason = try identity.rebuildReason(restoring: stamped.identity, path: "changelog \(topic)") {
            throw PipelineRefusal(reason)
        }
        let restored = try ShardedEngine(configuration: settings.engine, inputTopic: settings.inputTopic, shards: engine.shards.count,
                                         keyedPartitions: engine.keyedPartitions, keyedBase: engine.keyedBase,
                                         restoring: stamped.engineBytes)
        if let reason = Self.inconsistentPositions(restored, consumer: consumer, inputs: inputs, logger: logger) {
            throw PipelineRefusal(reason)
        }
        return restored
    }

    /// A reader of this group's chunks in the changelog `topic`.
    static func changelogReader(topic: String, pipeline: Pipeline) throws -> ChangelogReader {
        try ChangelogReader(topic: topic, group: pipeline.settings.groupId, configuration: pipeline.kafkaConfiguration(), logger: pipeline.logger)
    }

    /// Replaces the engine by a restored one, on the same threads and partitions.
    private func install(_ restored: ShardedEngine) {
        engine = restored
        Self.attach(&engine, workers: workers, identity: identity)
        publishPositions()
    }

    /// Puts a started or restored engine on the shard threads and declares its partitions.
    static func attach(_ engine: inout ShardedEngine, workers: ShardWorkers, identity: StateIdentity) {
        engine.parallel = workers.runner
        engine.partitionSources = identity.inputs.sources  // dead letters name the input's topic, whatever kafka.input_topic says
        // Every partition holds the watermark until it is consumed here (see the type's comment).
        engine.assign(partitions: (0..<Int32(identity.partitions)).map { $0 })
    }

    /// Counts a checkpoint's trip to the changelog; a failure is logged (the file still holds the state).
    func recordChangelog(_ result: Result<Int, KafkaError>?) {
        switch result {
        case .none: return
        case .success(let bytes):
            pipeline.updateStatus {
                $0.changelogWrites += 1
                $0.changelogBytes = bytes
            }
        case .failure(let error):
            logger.error("a checkpoint did not reach the changelog; a takeover re-reads more of the input", metadata: ["error": "\(error)"])
            pipeline.updateStatus { $0.changelogFailures += 1 }
        }
    }
}

/// The engine's next offset per partition, shared with the rebalance callback.
final class PositionBoard: Sendable {
    private let offsets = Mutex<[Int32: Int64]>([:])
    func set(_ positions: [Int32: Int64]) { offsets.withLock { $0 = positions } }
    func next(_ partition: Int32) -> Int64? { offsets.withLock { $0[partition] } }
}
