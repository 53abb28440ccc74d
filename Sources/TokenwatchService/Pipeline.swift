import Foundation
import Kafka
import Logging
import Synchronization
import TokenwatchConfig
import TokenwatchCore

/// What the live pipeline needs to know, mapped once from the configuration.
public struct PipelineSettings: Sendable {
    public var brokers: String
    public var groupId: String
    public var inputTopic: String
    /// The input topics and their formats (`inputs:`); empty means `inputTopic` alone, native.
    public var inputs: [InputSettings] = []
    public var leaderboardTopic: String
    public var alertsTopic: String
    public var deadletterTopic: String
    /// The election topic: the instance that holds its partition 0 (in group `<groupId>.leader`) is active.
    public var leaderTopic = "tokenwatch.internal.leader"
    /// The changelog topic (`<internal_topic_prefix>changelog`): every checkpoint of the active instance,
    /// from which an instance that takes over restores. Nil: none (`state.changelog: false`).
    public var changelogTopic: String? = "tokenwatch.internal.changelog"
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
    /// Engine shards (threads); 0 = one per processor. At most one per input partition.
    public var threads = 0
    /// Whether the instances of the group split the input partitions (`engine.instances: split`) rather
    /// than one consuming while the others stand by.
    public var splitPartitions = false
    /// With `splitPartitions`: the exchange topic (`<internal_topic_prefix>exchange`) and the event time
    /// between epochs (`state.epoch_interval`).
    public var exchangeTopic = "tokenwatch.internal.exchange"
    public var epochIntervalMs: Int64 = 5 * 60_000

    /// The shard count for an input of `partitions` partitions.
    public func shardCount(partitions: Int) -> Int {
        let wanted = threads > 0 ? threads : ProcessInfo.processInfo.activeProcessorCount
        return max(1, min(wanted, partitions))
    }

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

extension PipelineSettings {
    /// `inputs`, or `inputTopic` as the one native input.
    public var effectiveInputs: [InputSettings] { inputs.isEmpty ? [InputSettings(topic: inputTopic)] : inputs }

    /// The output topic of a record of `kind`.
    func outputTopic(for kind: OutputRecord.Kind) -> String {
        switch kind {
        case .leaderboard: leaderboardTopic
        case .alert: alertsTopic
        case .deadLetter: deadletterTopic
        }
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
    /// How long encoding and writing the last checkpoint took (on its own thread for periodic ones).
    public var lastCheckpointWriteMs: Int64?
    /// How long the loop stopped consuming for each periodic checkpoint (acknowledgements, the state copy).
    public var checkpointPause = LatencyHistogram()
    /// Checkpoints published to the changelog topic, and those the brokers did not acknowledge.
    public var changelogWrites = 0
    public var changelogFailures = 0
    /// The size of the last checkpoint published to the changelog.
    public var changelogBytes: Int?
    /// Times this instance took over with the state read from the changelog, and how long the last took.
    public var changelogRestores = 0
    public var lastChangelogRestoreMs: Int64?
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
    /// Per assigned partition, the newest event time counted from it (the watermark follows the oldest).
    public var partitionNewest: [Int32: Int64] = [:]
    /// Kafka timestamp → end of processing, sampled once per batch (its last message).
    public var processingLatency = LatencyHistogram()
    /// Alerts: watermark past their snapshot time → acknowledged by the broker.
    public var alertEmitToAck = LatencyHistogram()
    /// Alerts: event time of the behaviour they report → acknowledged (wall clock; meaningful live).
    public var alertEventToAck = LatencyHistogram()
    /// Time the engine spent on each batch.
    public var batchDuration = LatencyHistogram()
    public var snapshotDuration = LatencyHistogram()
    /// Distinct users the engine holds, and per window the users active in it (last snapshot).
    public var trackedUsers = 0
    /// The input topic and partition of each engine partition id (`lag` is keyed by id).
    public var inputSources: [PartitionSource] = []
    /// OTLP usage events that named a person, and those that did not, per tool.
    public var attribution: [String: ToolAttribution] = [:]
    /// OTLP metric series held and cumulative resets seen (`ShardedEngine.metricSeries`).
    public var metricSeries = (series: 0, resets: 0)
    public var activeUsers: [(window: String, users: Int)] = []
    /// Alerts published, by rule.
    public var alertsByRule: [String: Int] = [:]
    /// The generation of the last reload the loop handled (see `Pipeline.requestReload`), and its error.
    public var reloadGeneration: UInt64 = 0
    public var reloadError: String?

    // Exactness under operations.

    /// Why the state was rebuilt from the input at start (nil: restored from the checkpoint).
    public var rebuildReason: String?
    /// True while a rebuilt state is still re-reading the input (READY waits for it).
    public var catchingUp = false
    /// Outputs held back by a Kafka error that is not retriable (nil when none).
    public var outputBlocked: String?
    /// Sends and deliveries refused with an error that is not retriable, since start.
    public var outputErrors = 0
    /// Monotonic ms since when the instance holds no input partition (nil while it holds some).
    public var noPartitionsSinceMs: Int64?
    /// Monotonic ms since when lag is above zero but nothing was consumed (nil while progressing or caught up).
    public var stalledSinceMs: Int64?
    /// Whether this instance is the active one (holds the election partition); standbys publish nothing.
    public var active = false
    /// Once the election has answered either way (systemd's READY waits for it).
    public var roleKnown = false
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
    /// What the loop publishes (boards, alerts), fanned out to the dashboard's `/events` streams.
    public let events = EventStreamHub()

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

    func kafkaConfiguration() -> [String: String] {
        var c = settings.librdkafka
        c["bootstrap.servers"] = settings.brokers
        return c
    }

    private func loop() throws {
        if settings.splitPartitions {
            guard let split = try PartitionedLoop.start(pipeline: self) else {
                logger.info("stopped while starting")
                return
            }
            return try split.run()
        }
        guard let live = try LiveLoop.start(pipeline: self) else {
            logger.info("stopped while starting")
            return
        }
        try live.run()
    }

    func updateStatus(_ body: (inout PipelineStatus) -> Void) { statusBox.withLock { status in body(&status) } }
    var stopRequested: Bool { stopFlag.load(ordering: .relaxed) }
    func beatNow() { beat() }

}
