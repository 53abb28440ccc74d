import Kafka
import Logging
import TokenwatchCore

/// Where instances that split the input partitions keep each partition's state at every epoch time
/// (`PartitionEpochState`), on the changelog topic: partition `p`'s are chunked (`ChangelogRecord`) under
/// the keys `<group_id>/p<p>/state/<slot>/…`, slot `(epoch / epoch interval) mod 2`, so each partition's
/// two newest epochs are there and a write cut short leaves the other one readable.
enum EpochChangelog {
    /// The key group of partition `p`'s states.
    static func group(_ group: String, partition p: Int32) -> String { "\(group)/p\(p)" }

    /// The slot of an epoch.
    static func slot(epoch: Int64, intervalMs: Int64) -> Int { Int(((epoch / intervalMs) % 2 + 2) % 2) }

    /// The partition a key of `group`'s epoch states belongs to; nil for any other key.
    static func partition(ofKey key: UnsafeRawBufferPointer, group: String) -> Int32? {
        let prefix = Array("\(group)/p".utf8)
        guard key.count > prefix.count, key.starts(with: prefix) else { return nil }
        var p: Int32 = 0
        for byte in key[prefix.count...] {
            if byte == UInt8(ascii: "/") { return p }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), p < 1 << 20 else { return nil }
            p = p * 10 + Int32(byte - UInt8(ascii: "0"))
        }
        return nil
    }
}

/// Follows the changelog topic from its beginning and holds every partition's intact epoch states.
final class EpochFollower {
    private let consumer: KafkaConsumer
    private let topic: String
    private let group: String
    private let topicPartitions: Int32
    private var assemblers: [Int32: ChangelogAssembler] = [:]
    /// Decoded states per partition, rebuilt for a partition when a chunk of it arrived.
    private var states: [Int32: [PartitionEpochState]] = [:]
    private var changed = Set<Int32>()
    /// The complete slots' stamps of each partition when its states were last decoded.
    private var decodedStamps: [Int32: [ChangelogRecord.Stamp]] = [:]
    private var next: [Int32: Int64] = [:]

    init(topic: String, group: String, configuration: [String: String], logger: Logger) throws {
        self.topic = topic
        self.group = group
        var config = configuration
        config["group.id"] = nil  // manual assignment; nothing is committed
        config["fetch.wait.max.ms"] = "100"
        consumer = try KafkaConsumer(configuration: config, logger: logger)
        topicPartitions = Int32(max(1, (try? consumer.partitionCount(topic: topic, timeout: .seconds(10))) ?? 1))
        try consumer.assign((0..<topicPartitions).map { TopicPartitionOffset(topic: topic, partition: $0, offset: TopicPartitionOffset.beginning) })
    }

    deinit { consumer.close() }

    /// Reads what is there, waiting up to `timeout` for the first of it.
    func poll(timeout: Duration = .zero) {
        _ = consumer.poll(maxMessages: 512, timeout: timeout) { message in
            guard message.error == nil else { return }
            next[message.partition] = message.offset + 1
            guard let p = EpochChangelog.partition(ofKey: message.key, group: group) else { return }
            assemblers[p, default: ChangelogAssembler()].add(message.payload)
            changed.insert(p)
        }
    }

    /// Whether every partition of the topic has been read to its end as the last fetch saw it.
    var caughtUp: Bool {
        (0..<topicPartitions).allSatisfy { consumer.hasRead(topic: topic, partition: $0, upTo: next[$0] ?? 0) }
    }

    /// Every partition's intact states, decoded, when a slot became complete since the last call (else nil).
    /// A partition's are assembled and decoded again only then (chunks arrive one by one while written).
    func newEpochStates() -> [Int32: [PartitionEpochState]]? {
        var news = false
        for p in changed {
            guard let assembler = assemblers[p] else { continue }
            let stamps = assembler.completeStamps
            guard stamps != decodedStamps[p] else { continue }
            decodedStamps[p] = stamps
            news = true
            states[p] = assembler.complete.compactMap { PartitionEpochState(decoding: $0.file) }.filter { $0.partition == p }
        }
        changed.removeAll()
        return news ? states : nil
    }
}

/// The newest epoch every one of `partitions` partitions holds, and each partition's state at it.
struct EpochChoice: Sendable {
    var epoch: Int64
    var states: [PartitionEpochState]

    init?(_ held: [Int32: [PartitionEpochState]], partitions: Int32) {
        let epochs = PartitionEpochState.complete(held.mapValues { Set($0.map(\.epoch)) }, partitions: partitions)
        guard let newest = epochs.max() else { return nil }
        epoch = newest
        states = (0..<partitions).compactMap { p in held[p]?.first { $0.epoch == newest } }
    }

    /// Where partition `p` resumes at this epoch (-1: from the beginning of the retained log).
    func position(_ p: Int32) -> Int64 { states.first { $0.partition == p }?.nextOffset ?? -1 }
}
