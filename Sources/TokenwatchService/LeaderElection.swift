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
    private var closed = false

    init(settings: PipelineSettings, configuration: [String: String], logger: Logger) throws {
        var config = configuration
        config["group.id"] = settings.groupId + ".leader"
        // The election holds no data to read: never fetch from the start of a long topic.
        config["auto.offset.reset"] = "latest"
        // Sticky: the cooperative-sticky assignor leaves partition 0 with its owner when another instance
        // joins (range or roundrobin hand it to whichever member id sorts first, a new one half the time).
        config["partition.assignment.strategy"] = "cooperative-sticky"
        consumer = try KafkaConsumer(configuration: config, logger: logger)
        topic = settings.leaderTopic
        _ = InternalTopic.ensure(topic, partitions: 1, consumer: consumer, configuration: configuration, logger: logger)
        try consumer.subscribe(topics: [topic])
    }

    deinit { close() }

    /// Serves the election group (heartbeats, rebalances); returns the new role when it changed.
    ///
    /// The role follows the assignment once a rebalance has handed out partitions: cooperative rebalances
    /// revoke only what moves, so the active instance keeps partition 0, and its role, while others join
    /// or leave. A lost assignment (the session timed out) steps down at once.
    func poll() -> Bool? { serve(timeout: .zero) }

    /// Polls the election consumer for up to `timeout` and follows its rebalances (see `poll`).
    @discardableResult
    private func serve(timeout: Duration) -> Bool? {
        _ = consumer.poll(maxMessages: 64, timeout: timeout) { _ in }
        let events = consumer.takeRebalanceEvents()
        guard !events.isEmpty else { return nil }
        if events.contains(where: { if case .assigned = $0 { true } else { false } }) { settled = true }
        let holds = ((try? consumer.assignment()) ?? []).contains { $0.topic == topic && $0.partition == 0 }
        guard holds != isLeader else { return nil }
        isLeader = holds
        return holds
    }

    /// Leaves the election group at once (on stop), so a standby takes over without waiting for a timeout.
    func resign() { close() }

    /// Closes the consumer, and destroys it only once it had an assignment: librdkafka 2.0.2 crashes
    /// destroying a cooperative-sticky consumer between its first JoinGroup and its first assignment
    /// (librdkafka #4312, fixed in 2.2.1). It waits up to `settleTimeout` for that assignment; a consumer
    /// that never got one is closed (it leaves the group) and its handle is kept until the process exits.
    private func close(settleTimeout: Duration = .seconds(5)) {
        guard !closed else { return }
        closed = true
        let clock = ContinuousClock()
        let deadline = clock.now + settleTimeout
        while !settled && clock.now < deadline { serve(timeout: .milliseconds(50)) }
        consumer.close()
        if !settled { _ = Unmanaged.passRetained(consumer) }
    }
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
