import Kafka
import Logging
import Synchronization
import TokenwatchCore

/// Publishes each durable checkpoint to the changelog topic (`<internal_topic_prefix>changelog`), on the
/// checkpoint's own thread, and waits for the brokers' acknowledgement of every chunk.
final class ChangelogWriter: Sendable {
    let topic: String
    let group: String
    private let producer: KafkaProducer
    private let writes = Atomic<Int>(0)
    private let tokens = Atomic<UInt64>(0)
    /// Monotonic time after which a publish stops waiting for the brokers (`stopWaiting(afterMs:)`).
    private let giveUpAt = Atomic<Int64>(.max)

    init(topic: String, group: String, configuration: [String: String], logger: Logger) throws {
        self.topic = topic
        self.group = group
        var config = configuration
        // Chunks are up to 512 KiB; a checkpoint is written as a burst of them.
        config["message.max.bytes"] = config["message.max.bytes"] ?? "1000000"
        producer = try KafkaProducer(configuration: config, logger: logger)
    }

    /// Produces `file` (a stamped checkpoint) as chunks in the next slot; returns once every chunk is
    /// acknowledged, throws when one was not. `progress` orders it against other instances' writes.
    func publish(_ file: [UInt8], progress: Int64) throws(KafkaError) {
        try publish(file, group: group, slot: writes.add(1, ordering: .relaxed).oldValue % 2, progress: progress)
    }

    /// One file to write: its bytes, its key group and slot, and its progress (see `Stamp`).
    struct Write {
        var file: [UInt8]
        var group: String
        var slot: Int
        var progress: Int64
    }

    /// Produces `file` as chunks in slot `slot` of `group`'s keys and waits for every acknowledgement.
    func publish(_ file: [UInt8], group: String, slot: Int, progress: Int64) throws(KafkaError) {
        try publish([Write(file: file, group: group, slot: slot, progress: progress)])
    }

    /// Produces every file's chunks, then waits once for every acknowledgement; throws when one was not
    /// (the files whose chunks all arrived are complete anyway: each slot is checked on its own when read).
    func publish(_ writes: [Write]) throws(KafkaError) {
        let giveUp = { WallClock.monotonicMs() >= self.giveUpAt.load(ordering: .relaxed) }
        var failed = 0
        for write in writes {
            let stamp = ChangelogRecord.Stamp(id: UInt64.random(in: 1 ... .max), progress: write.progress, writtenAtMs: WallClock.nowMs(),
                                              totalBytes: UInt64(write.file.count), hash: ChangelogRecord.hash(write.file))
            for record in ChangelogRecord.records(of: write.file, group: write.group, slot: write.slot, stamp: stamp) {
                failed += try producer.produceWaiting(topic: topic, key: record.key, value: record.value,
                                                      token: tokens.add(1, ordering: .relaxed).newValue, giveUp: giveUp)
            }
        }
        failed += producer.drainDeliveries(giveUp: giveUp)
        if failed > 0 { throw KafkaError(code: -1, message: "\(failed) changelog chunks were not acknowledged") }
    }

    /// On a stop: publishes stop waiting for the brokers `ms` from now (a cluster that is gone must not
    /// hold the stop past systemd's `TimeoutStopSec`). A slot left incomplete is never read: its chunks
    /// do not add up to the stamped hash, so readers keep the previous checkpoint.
    func stopWaiting(afterMs ms: Int64) {
        giveUpAt.store(WallClock.monotonicMs() + ms, ordering: .relaxed)
    }
}

/// Reads the changelog topic from its beginning and keeps the newest complete checkpoint in it
/// (a standby keeps reading, so it holds the active instance's latest state when it takes over).
final class ChangelogReader {
    let topic: String
    private let consumer: KafkaConsumer
    private var assembler = ChangelogAssembler()
    /// Only this group's chunks are read (see `ChangelogRecord`).
    private let keyPrefix: [UInt8]
    private let partitions: Int32
    /// The next offset to read per partition: the reader has caught up when each reaches its high watermark.
    private var next: [Int32: Int64] = [:]

    init(topic: String, group: String, configuration: [String: String], logger: Logger) throws {
        self.topic = topic
        keyPrefix = ChangelogRecord.keyPrefix(group: group)
        var config = configuration
        config["group.id"] = nil  // manual assignment; nothing is committed
        config["fetch.wait.max.ms"] = "100"  // the fetches' high watermarks say where the end is (`catchUp`)
        consumer = try KafkaConsumer(configuration: config, logger: logger)
        // tokenwatch creates it with one partition; one made by hand (or the dev broker) may have more.
        partitions = Int32(max(1, (try? consumer.partitionCount(topic: topic, timeout: .seconds(10))) ?? 1))
        try consumer.assign((0..<partitions).map { TopicPartitionOffset(topic: topic, partition: $0, offset: TopicPartitionOffset.beginning) })
    }

    deinit { consumer.close() }

    /// Reads what is there without waiting.
    func poll() { read(timeout: .zero) }

    /// Reads until the end of the topic, for at most `timeout`; returns the newest complete checkpoint read
    /// and its stamp, and whether the end was reached. The end is each partition's high watermark as the
    /// fetches report it (no per-partition broker query: those cost a round trip each, which on a topic
    /// of many partitions adds up to seconds). Any complete checkpoint is a consistent state; reading to
    /// the end only makes it the newest.
    /// `reading` is called after each read (the watchdog heartbeat: the reader is making progress).
    func catchUp(timeout: Duration, reading: () -> Void) -> (newest: (stamp: ChangelogRecord.Stamp, file: [UInt8])?, complete: Bool) {
        let deadline = WallClock.monotonicMs() + Int64(timeout.components.seconds * 1_000)
        while true {
            read(timeout: .milliseconds(50))
            reading()
            let atEnd = (0..<partitions).allSatisfy { consumer.hasRead(topic: topic, partition: $0, upTo: next[$0] ?? 0) }
            if atEnd || WallClock.monotonicMs() >= deadline { return (assembler.newest, atEnd) }
        }
    }

    private func read(timeout: Duration) {
        _ = consumer.poll(maxMessages: 256, timeout: timeout) { message in
            guard message.error == nil else { return }
            next[message.partition] = message.offset + 1
            guard message.key.starts(with: keyPrefix) else { return }
            assembler.add(message.payload)
        }
    }
}

extension KafkaConsumer {
    /// Whether a reader whose next offset is `next` has read `partition` to its end, as the last fetch saw
    /// it (no broker request); false before the first fetch answered.
    func hasRead(topic: String, partition: Int32, upTo next: Int64) -> Bool {
        guard let w = cachedWatermarks(topic: topic, partition: partition), w.high >= 0 else { return false }
        return w.high == 0 || w.low >= w.high || next >= w.high
    }
}
