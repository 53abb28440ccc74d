import Kafka
import Logging

/// Which instance of a consumer group is active, decided by Kafka's own group assignment: every instance
/// joins group `<group_id>.leader` on the election topic, and the one assigned its partition 0 is active.
/// Only the active instance consumes the input and publishes, so several instances publish exactly the
/// boards one would, and a standby takes over when the active one dies or stalls past its session timeout.
final class LeaderElection {
    private let consumer: KafkaConsumer
    let topic: String
    private(set) var isLeader = false
    /// True once the group has answered at least once (an assignment, possibly empty).
    private(set) var settled = false

    init(settings: PipelineSettings, configuration: [String: String], logger: Logger) throws {
        var config = configuration
        config["group.id"] = settings.groupId + ".leader"
        // The election holds no data to read: never fetch from the start of a long topic.
        config["auto.offset.reset"] = "latest"
        consumer = try KafkaConsumer(configuration: config, logger: logger)
        topic = settings.leaderTopic
        Self.ensureTopic(topic, consumer: consumer, configuration: configuration, logger: logger)
        try consumer.subscribe(topics: [topic])
    }

    /// Creates the election topic (one partition) when the cluster does not have it. Brokers that create
    /// topics on a metadata request (the dev broker) answer the first check; a refusal is logged, and the
    /// instance then stays a standby until an operator creates the topic.
    private static func ensureTopic(_ topic: String, consumer: KafkaConsumer, configuration: [String: String], logger: Logger) {
        if let count = try? consumer.partitionCount(topic: topic, timeout: .seconds(10)), count > 0 { return }
        do {
            let admin = try KafkaAdmin(configuration: configuration, logger: logger)
            try admin.createTopics([(name: topic, partitions: 1, replicationFactor: -1)], timeout: .seconds(15))
            logger.info("created the election topic", metadata: ["topic": "\(topic)"])
        } catch {
            logger.error("the election topic is missing and could not be created; create it (1 partition) so an instance can become active",
                         metadata: ["topic": "\(topic)", "error": "\(error)"])
        }
    }

    deinit { consumer.close() }

    /// Serves the election group (heartbeats, rebalances); returns the new role when it changed.
    func poll() -> Bool? {
        _ = consumer.poll(maxMessages: 64, timeout: .zero) { _ in }
        let events = consumer.takeRebalanceEvents()
        guard !events.isEmpty else { return nil }
        settled = true
        let holds = ((try? consumer.assignment()) ?? []).contains { $0.topic == topic && $0.partition == 0 }
        guard holds != isLeader else { return nil }
        isLeader = holds
        return holds
    }

    /// Leaves the election group at once (on stop), so a standby takes over without waiting for a timeout.
    func resign() { consumer.close() }
}
