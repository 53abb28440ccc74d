import Foundation
import Kafka
import Testing

@Suite("MockCluster")
struct MockClusterTests {
    @Test("the bootstrap proxy forwards to the first broker on a fixed port, and stops")
    func bootstrapProxy() async throws {
        let (logger, _) = makeLogger("proxy")
        let cluster = try MockCluster(brokers: 3, logger: logger)
        #expect(cluster.bootstrapServers.split(separator: ",").count == 3)
        try cluster.createTopic("proxied", partitions: 6, replicationFactor: 3)
        let address = try cluster.startBootstrapProxy(port: 0)
        let port = try #require(UInt16(address.split(separator: ":")[1]))
        try await onThread {
            let consumer = try KafkaConsumer(configuration: fastConsumerSettings(address, group: nil), logger: logger)
            defer { consumer.close() }
            #expect(try consumer.partitionCount(topic: "proxied", timeout: .seconds(5)) == 6)
        }
        cluster.stopBootstrapProxy()
        // The same fixed port can be bound again at once.
        let again = try cluster.startBootstrapProxy(port: port)
        #expect(again == "127.0.0.1:\(port)")
    }

    @Test("CreateTopics against the mock times out (controller id bug in 2.0.2)")
    func adminCreateTopicsOnMock() async throws {
        let (logger, _) = makeLogger("admin")
        let cluster = try MockCluster(logger: logger)
        let bootstrap = cluster.bootstrapServers
        let outcome = try await onThread {
            let admin = try KafkaAdmin(configuration: ["bootstrap.servers": bootstrap], logger: logger)
            return Result<Void, KafkaError> { () throws(KafkaError) in
                try admin.createTopics([(name: "made-by-admin", partitions: 2, replicationFactor: 1)], timeout: .seconds(1))
            }
        }
        switch outcome {
        case .success:
            Issue.record("CreateTopics unexpectedly succeeded on the mock cluster: update MockCluster's note")
        case .failure(let error):
            // Observed with librdkafka 2.0.2: "CreateTopics: no answer within 1.0 seconds" or a request timeout.
            #expect(error.isRetriable, "\(error)")
            logger.notice("CreateTopics on the mock: \(error)")
        }
    }
}
