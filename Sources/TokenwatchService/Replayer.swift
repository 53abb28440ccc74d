import Foundation
import Kafka
import Logging
import TokenwatchConfig
import TokenwatchCore

/// Where replayed outputs go.
public protocol ReplaySink {
    mutating func write(_ record: OutputRecord) throws
    mutating func finish() throws
}

/// What a replay did, for the final summary.
public struct ReplaySummary: Sendable {
    public var messages = 0
    public var counters = EngineCounters()
    public var boardsWritten = 0
    public var alertsWritten = 0
    public var deadLettersWritten = 0
    public var elapsedSeconds = 0.0
    /// How the start offsets were found (topic replays).
    public var startPath = ""

    public var text: String {
        var lines = [String(format: "replayed %d messages in %.2f s (%.0f/s)", messages, elapsedSeconds, Double(messages) / max(elapsedSeconds, 1e-9))]
        lines.append("  counted \(counters.counted), service accounts \(counters.service), duplicates \(counters.duplicates), dead letters \(counters.deadLetterTotal)")
        for (reason, n) in counters.deadLetters.sorted(by: { $0.key < $1.key }) { lines.append("    \(reason): \(n)") }
        lines.append("  snapshot times \(counters.snapshots); written: \(boardsWritten) boards, \(alertsWritten) alerts, \(deadLettersWritten) dead letters")
        if !startPath.isEmpty { lines.append("  start offsets: \(startPath)") }
        return lines.joined(separator: "\n")
    }
}

/// Recomputes boards (and alerts) over history with the same pure engine as the live daemon.
///
/// Partitions are read in their own order; a partition whose input is exhausted stops holding the
/// watermark back, as an idle partition does live. Boards outside `[from, to]` are not written.
public final class Replayer {
    let engineConfiguration: EngineConfiguration
    let inputTopic: String
    let from: Int64?
    let to: Int64?
    let logger: Logger
    let progress: ProgressReporter
    /// Engine shards (threads), as `engine.threads`: 0 = one per processor, at most one per partition.
    let threads: Int
    /// The engine as a one-thread replay left it (for `tokenwatch explain`); nil until one finished.
    public private(set) var finalEngine: Engine?

    public init(engine: EngineConfiguration, inputTopic: String, from: Int64?, to: Int64?, logger: Logger, progress: ProgressReporter,
                threads: Int = 1) {
        engineConfiguration = engine
        self.threads = threads
        self.inputTopic = inputTopic
        self.from = from
        self.to = to
        self.logger = logger
        self.progress = progress
    }

    /// Event time that must be read before `from` so every window is full at `from`.
    public var warmUpMs: Int64 {
        (engineConfiguration.windows.map(\.lengthMs).max() ?? 0) + engineConfiguration.allowedLatenessMs
    }

    // MARK: - Shared driver

    struct Drive {
        var engine: ShardedEngine
        var batches: ShardBatches
        let workers: ShardWorkers
        var remaining: [Int32: Int64]
        var exhausted = Set<Int32>()
        var summary = ReplaySummary()
        var sinceEmit = 0
    }

    private func makeDrive(counts: [Int32: Int64], inputs: InputTopics? = nil) -> Drive {
        let wanted = threads > 0 ? threads : ProcessInfo.processInfo.activeProcessorCount
        // Users are keyed over the first native input (OTLP batches mix users: they go to the users' shards).
        let keyed = inputs?.inputs.first { $0.format == .tokenwatch }
        var engine = ShardedEngine(configuration: engineConfiguration, inputTopic: inputTopic,
                                   shards: max(1, min(wanted, counts.count)),
                                   keyedPartitions: Int32(keyed?.partitions ?? counts.count), keyedBase: keyed?.firstId ?? 0)
        if let inputs { engine.partitionSources = inputs.sources }
        engine.assign(partitions: counts.keys.sorted())
        let workers = ShardWorkers(shards: engine.shards.count)
        engine.parallel = workers.runner
        var d = Drive(engine: engine, batches: ShardBatches(shards: engine.shards.count), workers: workers, remaining: counts)
        for (p, n) in counts where n == 0 { d.exhausted.insert(p) }
        return d
    }

    /// `key`: the message key of a topic replay (events not keyed by their user are de-duplicated across
    /// partitions, as live); nil for a file, whose lines are placed by their user.
    private func feed<S: ReplaySink>(_ d: inout Drive, partition: Int32, offset: Int64, payload: UnsafeRawBufferPointer,
                                     key: UnsafeRawBufferPointer? = nil, format: InputSettings.Format = .tokenwatch,
                                     receivedAt: Int64, sink: inout S) throws {
        // A message's Kafka timestamp is both its dead-letter label and the future-skew reference, as live.
        if d.engine.shards.count == 1 {
            d.engine.withShardAccess { access in
                access.withShard(0) { shard in
                    InputRouter.process(payload, format: format, into: &shard, partition: partition, offset: offset, receivedAtMs: receivedAt,
                                        referenceTimeMs: receivedAt > 0 ? receivedAt : nil, key: key)
                }
            }
        } else {
            // Copied per shard and counted in parallel before the next snapshot step.
            d.batches.append(shard: d.engine.shard(ofPartition: partition), payload: payload,
                             key: key ?? UnsafeRawBufferPointer(start: nil, count: 0), keyed: key != nil, format: format,
                             partition: partition, offset: offset, timestampMs: receivedAt > 0 ? receivedAt : nil)
        }
        d.summary.messages += 1
        d.sinceEmit += 1
        if let left = d.remaining[partition] {
            d.remaining[partition] = left - 1
            if left - 1 <= 0 { d.exhausted.insert(partition); d.sinceEmit = 1 << 20 }
        }
        if d.sinceEmit >= 2048 || d.engine.pendingOutputs > 4096 {
            d.sinceEmit = 0
            try emit(&d, sink: &sink)
        }
    }

    private func emit<S: ReplaySink>(_ d: inout Drive, sink: inout S) throws {
        if !d.batches.isEmpty { d.batches.process(into: &d.engine, receivedAtMs: 0) }
        d.engine.emitDueSnapshots(idle: d.exhausted)
        for record in d.engine.takeOutputs() {
            if let t = record.eventTime {
                if let from, t < from { continue }
                if let to, t > to { continue }
            }
            switch record.kind {
            case .leaderboard: d.summary.boardsWritten += 1
            case .alert: d.summary.alertsWritten += 1
            case .deadLetter: d.summary.deadLettersWritten += 1
            }
            try sink.write(record)
        }
    }

    /// True once every board up to `to` has been written.
    private func done(_ d: Drive) -> Bool {
        guard let to, let last = d.engine.lastSnapshotAt else { return false }
        return last >= to
    }

    private func finish<S: ReplaySink>(_ d: inout Drive, sink: inout S, started: Int64) throws -> ReplaySummary {
        d.exhausted.formUnion(d.remaining.keys)
        try emit(&d, sink: &sink)
        try sink.finish()
        progress.finish()
        d.summary.counters = d.engine.counters
        finalEngine = d.engine.shards.count == 1 ? d.engine.shards[0] : nil
        d.summary.elapsedSeconds = Double(WallClock.monotonicMs() - started) / 1000
        return d.summary
    }

    // MARK: - From a file

    /// Replays a JSON-lines file (or `.jsonl.gz`); each line's partition is the one librdkafka's
    /// default partitioner gives its `user_id` among `partitions`, as on the live topic.
    public func replayFile<S: ReplaySink>(path: String, partitions: Int32, sink: inout S) throws -> ReplaySummary {
        let started = WallClock.monotonicMs()
        // First pass: each line's partition (kept, so the second pass does not decode a line twice), and
        // how many lines each partition holds, so exhausted partitions stop holding the watermark.
        var counts: [Int32: Int64] = [:]
        for p in 0..<partitions { counts[p] = 0 }
        var lineParts: [Int32] = []
        var keyDecoder = EventDecoder(maxMessageBytes: Int.max)
        let scan = try LineReader(path: path)
        while try scan.next({ line in
            guard !line.isEmpty else { return }
            let p = Self.partition(of: line, partitions: partitions, decoder: &keyDecoder)
            counts[p, default: 0] += 1
            lineParts.append(p)
        }) {}
        progress.start(total: Int64(lineParts.count), unit: "events")
        var d = makeDrive(counts: counts)
        var offsets = [Int64](repeating: 0, count: Int(partitions))
        var lineIndex = 0
        let reader = try LineReader(path: path)
        while try reader.next({ line in
            guard !line.isEmpty else { return }
            // The file changed between the passes if it has more lines now: place them as the first pass would.
            let p = lineIndex < lineParts.count ? lineParts[lineIndex] : Self.partition(of: line, partitions: partitions, decoder: &keyDecoder)
            lineIndex += 1
            try feed(&d, partition: p, offset: offsets[Int(p)], payload: line, receivedAt: 0, sink: &sink)
            offsets[Int(p)] += 1
            progress.update(done: Int64(d.summary.messages))
        }) {
            if done(d) { break }
        }
        return try finish(&d, sink: &sink, started: started)
    }

    /// The partition of one line: CRC-32 of its `user_id`, as the producer keyed it. Lines that do
    /// not decode go to partition 0 (they become dead letters there).
    static func partition(of line: UnsafeRawBufferPointer, partitions: Int32, decoder: inout EventDecoder) -> Int32 {
        guard let e = try? decoder.decode(line) else { return 0 }
        return decoder.withBytes(e.userId) { KeyPartitioner.partition(key: $0, partitions: partitions) }
    }

    static func partition(of line: UnsafeRawBufferPointer, partitions: Int32) -> Int32 {
        var decoder = EventDecoder(maxMessageBytes: Int.max)
        return partition(of: line, partitions: partitions, decoder: &decoder)
    }

    // MARK: - From a topic

    /// Replays `topic` from `from` minus the warm-up (found by offsets-for-times, or from the earliest
    /// offset where the broker cannot answer) to the end offsets seen at start. Uses manual assignment:
    /// it never joins or moves any consumer group.
    public func replayTopic<S: ReplaySink>(brokers: String, topic: String, librdkafka: [String: String], sink: inout S) throws -> ReplaySummary {
        try replayTopics(brokers: brokers, inputs: [InputSettings(topic: topic)], librdkafka: librdkafka, sink: &sink)
    }

    /// Replays every input topic together, numbered as the live daemon numbers them (`InputTopics`), each
    /// message in its input's format.
    public func replayTopics<S: ReplaySink>(brokers: String, inputs settings: [InputSettings], librdkafka: [String: String],
                                            sink: inout S) throws -> ReplaySummary {
        let started = WallClock.monotonicMs()
        var config = librdkafka
        config["bootstrap.servers"] = brokers
        config["enable.auto.commit"] = "false"
        let consumer = try KafkaConsumer(configuration: config, logger: logger)
        defer { consumer.close() }
        let inputs = InputTopics(settings, counts: try settings.map { try consumer.partitionCount(topic: $0.topic, timeout: .seconds(15)) })
        let count = inputs.totalPartitions
        let sources = inputs.sources
        var low: [Int32: Int64] = [:], high: [Int32: Int64] = [:]
        for p in 0..<Int32(count) {
            let w = try consumer.watermarks(topic: sources[Int(p)].topic, partition: sources[Int(p)].partition, timeout: .seconds(15))
            low[p] = w.low
            high[p] = w.high
        }
        var start = low
        var path = "earliest offset (no --from)"
        if let from {
            let query = sources.map { TopicPartitionOffset(topic: $0.topic, partition: $0.partition, offset: from - warmUpMs) }
            let answer = ((try? consumer.offsetsForTimes(query, timeout: .seconds(15))) ?? []).compactMap { a in
                inputs.engineId(topic: a.topic, partition: a.partition).map { TopicPartitionOffset(topic: a.topic, partition: $0, offset: a.offset) }
            }
            let usable = answer.filter { $0.offset >= 0 }
            if usable.isEmpty {
                path = "earliest offset: the broker gave no offsets for \(RFC3339.format(from - warmUpMs)) (the dev broker cannot answer offsets-for-times); reading everything and skipping boards before --from"
            } else {
                path = "offsets-for-times at --from minus the longest window and allowed lateness (\(RFC3339.format(from - warmUpMs)))"
                for a in answer { start[a.partition] = a.offset >= 0 ? a.offset : high[a.partition]! }
            }
        }
        // Reading from the log start when it is past offset 0: what came before is gone (retention, or the
        // dev broker's ~5 MB per partition), and the replay can only cover what is left. Say so.
        let truncated = (0..<Int32(count)).filter { start[$0]! == low[$0]! && low[$0]! > 0 }
        if !truncated.isEmpty {
            let lost = truncated.map { low[$0]! }.reduce(0, +)
            logger.warning("the topic no longer holds its oldest events; the replay covers only what is left", metadata: [
                "partitions": "\(truncated.map { "\($0) from offset \(low[$0]!)" }.joined(separator: ", "))", "offsets_gone": "\(lost)",
            ])
            path += "; \(lost) older offsets are gone from partitions \(truncated.map(String.init).joined(separator: ", "))"
        }
        logger.info("replay start offsets", metadata: ["path": "\(path)"])
        var counts: [Int32: Int64] = [:]
        for p in 0..<Int32(count) { counts[p] = max(0, high[p]! - start[p]!) }
        let total = counts.values.reduce(0, +)
        progress.start(total: total, unit: "messages")
        var d = makeDrive(counts: counts, inputs: inputs)
        d.summary.startPath = path
        let assignment = counts.filter { $0.value > 0 }.compactMap { inputs.offset(of: $0.key, next: start[$0.key]!) }
        var router = InputRouter(inputs)
        if !assignment.isEmpty { try consumer.assign(assignment) }
        var lastProgress = WallClock.monotonicMs()
        while d.exhausted.count < counts.count && !done(d) {
            var failure: Error?
            let n = consumer.poll(maxMessages: 10_000, timeout: .milliseconds(500)) { m in
                guard failure == nil, m.error == nil, let (id, format) = router.route(m), let end = high[id], m.offset < end else { return }
                // What is left is measured by offset, not counted down: compaction and transaction
                // markers leave gaps, and the partition is done once its last offset is behind us.
                d.remaining[id] = end - m.offset
                do {
                    try feed(&d, partition: id, offset: m.offset, payload: m.payload, key: m.key, format: format,
                             receivedAt: m.timestampMs ?? 0, sink: &sink)
                } catch { failure = error }
            }
            if let failure { throw failure }
            if n > 0 {
                lastProgress = WallClock.monotonicMs()
                progress.update(done: Int64(d.summary.messages))
            } else if WallClock.monotonicMs() - lastProgress > 60_000 {
                throw ReplayError.stalled(remaining: d.remaining.filter { $0.value > 0 })
            }
        }
        return try finish(&d, sink: &sink, started: started)
    }
}

/// A replay could not complete.
public enum ReplayError: Error, CustomStringConvertible {
    case stalled(remaining: [Int32: Int64])
    public var description: String {
        switch self {
        case .stalled(let r): "no progress for 60 s; messages still expected per partition: \(r.sorted { $0.key < $1.key })"
        }
    }
}
