import Kafka
import Logging

/// librdkafka's mock cluster with the configured topics, reachable over TCP: for development, demos and tests.
public final class DevBroker: Sendable {
    public let cluster: MockCluster
    /// Where clients bootstrap from (the fixed-port proxy when one was asked for).
    public let bootstrap: String

    /// Starts the cluster, creates `topics` (input with `partitions` partitions, outputs likewise),
    /// and listens on 127.0.0.1:`port` (0 = the mock's own ephemeral port only).
    public init(port: UInt16, partitions: Int32, topics: [String], brokers: Int32 = 1, logger: Logger) throws {
        cluster = try MockCluster(brokers: brokers, logger: logger)
        for topic in topics {
            try cluster.createTopic(topic, partitions: partitions)
        }
        bootstrap = port == 0 ? cluster.bootstrapServers : try cluster.startBootstrapProxy(port: port)
    }
}
