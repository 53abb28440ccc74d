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
        // Not cooperative-sticky, though it would keep partition 0 in place by itself: librdkafka 2.0.2
        // aborts when such a consumer is destroyed before its first assignment (librdkafka #4312).
        consumer = try KafkaConsumer(configuration: config, logger: logger)
        topic = settings.leaderTopic
        _ = InternalTopic.ensure(topic, partitions: 1, consumer: consumer, configuration: configuration, logger: logger)
        try consumer.subscribe(topics: [topic])
    }

    deinit { consumer.close() }

    /// Serves the election group (heartbeats, rebalances); returns the new role when it changed.
    ///
    /// The role changes only once a rebalance is complete (its assignment arrived): with the eager
    /// protocol every instance that joins the group revokes every partition first, and stepping down on
    /// that revocation would make the active instance leave the input group and rejoin it for nothing.
    /// Until the assignment arrives the role stays as it was; two instances that both believe they are
    /// active meanwhile publish nothing wrong (each holds back the boards of partitions it does not hold).
    func poll() -> Bool? {
        _ = consumer.poll(maxMessages: 64, timeout: .zero) { _ in }
        let events = consumer.takeRebalanceEvents()
        guard let last = events.last else { return nil }
        guard case .assigned = last else { return nil }
        settled = true
        let holds = ((try? consumer.assignment()) ?? []).contains { $0.topic == topic && $0.partition == 0 }
        guard holds != isLeader else { return nil }
        isLeader = holds
        return holds
    }

    /// Leaves the election group at once (on stop), so a standby takes over without waiting for a timeout.
    func resign() { consumer.close() }
}

/// tokenwatch's own topics (`kafka.internal_topic_prefix`), created at start when the cluster lacks them.
enum InternalTopic {
    /// The topic's partition count, creating it with `partitions` when it does not exist. Brokers that
    /// create topics on a metadata request (the dev broker) answer the first look-up; nil (logged) when
    /// the topic is missing and could not be created.
    static func ensure(_ topic: String, partitions: Int, configs: [String: String] = [:], consumer: KafkaConsumer,
                       configuration: [String: String], logger: Logger) -> Int? {
        if let count = try? consumer.partitionCount(topic: topic, timeout: .seconds(10)), count > 0 { return count }
        do {
            let admin = try KafkaAdmin(configuration: configuration, logger: logger)
            try admin.createTopics([(name: topic, partitions: Int32(partitions), replicationFactor: -1)], configs: configs, timeout: .seconds(15))
            logger.info("created an internal topic", metadata: ["topic": "\(topic)", "partitions": "\(partitions)"])
            return try consumer.partitionCount(topic: topic, timeout: .seconds(10))
        } catch {
            logger.error("an internal topic is missing and could not be created; create it",
                         metadata: ["topic": "\(topic)", "partitions": "\(partitions)", "error": "\(error)"])
            return nil
        }
    }
}
