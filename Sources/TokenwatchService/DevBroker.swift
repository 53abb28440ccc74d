import Kafka
import Logging

/// librdkafka's mock cluster with the configured topics, reachable over TCP: for development, demos and tests.
public final class DevBroker: Sendable {
    public let cluster: MockCluster
    /// Where clients bootstrap from (the fixed-port proxy when one was asked for).
    public let bootstrap: String

    /// Starts the cluster, creates `topics` (input with `partitions` partitions, outputs likewise; the
    /// `singlePartition` ones with one), and listens on 127.0.0.1:`port` (0 = the mock's own ephemeral port only).
    public init(port: UInt16, partitions: Int32, topics: [String], singlePartition: [String] = [], brokers: Int32 = 1,
                logger: Logger) throws {
        cluster = try MockCluster(brokers: brokers, logger: logger)
        for topic in topics {
            try cluster.createTopic(topic, partitions: partitions)
        }
        for topic in singlePartition where !topics.contains(topic) {
            try cluster.createTopic(topic, partitions: 1)
        }
        bootstrap = port == 0 ? cluster.bootstrapServers : try cluster.startBootstrapProxy(port: port)
    }
}

/// The dev broker (librdkafka's mock cluster) keeps about 5 MB per partition and drops the oldest
/// messages past that without a word; this says so, so nobody replays or compares against a history
/// that is no longer whole.
public enum DevBrokerRetention {
    /// A partition whose oldest messages are gone: its log now starts at `logStart`.
    public struct Dropped: Sendable, Equatable {
        public var topic: String
        public var partition: Int32
        public var logStart: Int64
    }

    /// The partitions of `topics` whose log no longer starts at offset 0, when `properties` reach a
    /// mock cluster (its cluster id starts with `mockCluster`); nil for a real cluster, which keeps what
    /// its retention says, or when the brokers do not answer.
    public static func dropped(properties: [String: String], topics: [String], logger: Logger) -> [Dropped]? {
        var quiet = logger
        quiet.logLevel = .error
        guard let consumer = try? KafkaConsumer(configuration: properties, logger: quiet) else { return nil }
        defer { consumer.close() }
        guard let cluster = consumer.clusterId(timeout: .seconds(5)), cluster.hasPrefix("mockCluster") else { return nil }
        var dropped: [Dropped] = []
        for topic in topics {
            guard let count = try? consumer.partitionCount(topic: topic, timeout: .seconds(5)) else { continue }
            for p in 0..<Int32(count) {
                if let w = try? consumer.watermarks(topic: topic, partition: p, timeout: .seconds(5)), w.low > 0 {
                    dropped.append(Dropped(topic: topic, partition: p, logStart: w.low))
                }
            }
        }
        return dropped
    }

    /// Logs one warning per partition that dropped messages since `known` (updated in place).
    public static func warn(_ dropped: [Dropped], known: inout [String: Int64], logger: Logger) {
        for d in dropped where (known["\(d.topic)/\(d.partition)"] ?? 0) < d.logStart {
            known["\(d.topic)/\(d.partition)"] = d.logStart
            logger.warning("the dev broker dropped the oldest messages of a partition (it keeps about 5 MB each): use more partitions (--partitions) for this much data", metadata: [
                "topic": "\(d.topic)", "partition": "\(d.partition)", "log_start": "\(d.logStart)",
            ])
        }
    }
}
