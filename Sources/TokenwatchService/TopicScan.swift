import Foundation
import Kafka
import Logging

/// Reads a whole topic (beginning to its current end) as JSON objects, in offset order per partition.
public enum TopicScan {
    public static func objects(brokers: String, topic: String, librdkafka: [String: String] = [:],
                               logger: Logger, timeout: Duration = .seconds(15)) throws -> [[String: Any]] {
        var out: [[String: Any]] = []
        try forEach(brokers: brokers, topic: topic, librdkafka: librdkafka, logger: logger, timeout: timeout) { _, o in out.append(o) }
        return out
    }

    /// Hands `visit` each message's key and JSON object (messages that are not JSON objects are skipped),
    /// from the beginning of each partition to its end as it was when the scan began.
    public static func forEach(brokers: String, topic: String, librdkafka: [String: String] = [:], logger: Logger,
                               timeout: Duration = .seconds(15), _ visit: (_ key: [UInt8], _ object: [String: Any]) -> Void) throws {
        var config = librdkafka
        config["bootstrap.servers"] = brokers
        config["enable.partition.eof"] = "false"
        // A throwaway group id: manual assignment never joins it and nothing is committed.
        config["group.id"] = config["group.id"] ?? "tokenwatch-reader-\(getpid())"
        let consumer = try KafkaConsumer(configuration: config, logger: logger)
        defer { consumer.close() }
        let count = try consumer.partitionCount(topic: topic, timeout: timeout)
        var ends: [Int32: Int64] = [:]
        var assignment: [TopicPartitionOffset] = []
        for p in 0..<Int32(count) {
            let w = try consumer.watermarks(topic: topic, partition: p, timeout: timeout)
            guard w.high > w.low else { continue }
            ends[p] = w.high
            assignment.append(TopicPartitionOffset(topic: topic, partition: p, offset: w.low))
        }
        guard !assignment.isEmpty else { return }
        try consumer.assign(assignment)
        var position: [Int32: Int64] = [:]
        let deadline = ContinuousClock.now + timeout * 4
        while ends.contains(where: { (position[$0.key] ?? 0) < $0.value }) && ContinuousClock.now < deadline {
            _ = consumer.poll(maxMessages: 10_000, timeout: .milliseconds(200)) { m in
                guard m.error == nil else { return }
                position[m.partition] = m.offset + 1
                if let o = try? JSONSerialization.jsonObject(with: Data(m.payload)) as? [String: Any] { visit(Array(m.key), o) }
            }
        }
    }

    /// The JSON objects of a JSON-lines file (a replay's `leaderboard.jsonl` or `alerts.jsonl`).
    public static func objects(file path: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return text.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }
}
