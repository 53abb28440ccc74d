import CRdKafka
import Logging

/// Administrative operations (CreateTopics) on a real cluster, through one `rd_kafka_t`.
///
/// Note: the mock cluster of librdkafka 2.0.2 names controller id 0 while its brokers are 1…n, so its
/// CreateTopics times out; use ``MockCluster/createTopic(_:partitions:replicationFactor:)`` there.
public final class KafkaAdmin: @unchecked Sendable {
    // @unchecked Sendable: `rk` is an immutable pointer and librdkafka's admin API is thread-safe; each call
    // uses its own result queue. No mutable Swift state.

    private let rk: OpaquePointer
    private let context: CallbackContext
    private let logger: Logger

    /// Creates the admin client (a producer-type handle). Default `log.queue=true`; logs are forwarded to
    /// `logger` after each operation. Throws librdkafka's text for a bad property.
    public init(configuration: [String: String], logger: Logger) throws(KafkaError) {
        let context = CallbackContext(logger: logger)
        let conf = try KafkaConfiguration.make(configuration, defaults: ["log.queue": "true"])
        context.install(on: conf)
        let rk = try KafkaConfiguration.newHandle(RD_KAFKA_PRODUCER, conf: conf)
        _ = rd_kafka_set_log_queue(rk, nil)
        self.rk = rk
        self.context = context
        self.logger = logger
    }

    deinit {
        let handle = UncheckedHandle(rk)
        let context = self.context
        let finished = DedicatedThread.run(timeout: .seconds(10)) {
            rd_kafka_destroy(handle.pointer)
            withExtendedLifetime(context) {}
        }
        if !finished { logger.warning("admin destroy did not finish within 10 s; abandoning the handle") }
    }

    /// Creates the topics, waiting up to `timeout` for the controller's answer. Topics that already exist
    /// are not an error; any other per-topic failure throws, naming the topic. `configs` are topic settings
    /// given to every topic created (e.g. `cleanup.policy=compact`).
    public func createTopics(
        _ topics: [(name: String, partitions: Int32, replicationFactor: Int32)],
        configs: [String: String] = [:],
        timeout: Duration
    ) throws(KafkaError) {
        guard !topics.isEmpty else { return }
        defer { rd_kafka_poll(rk, 0) }  // forward the log lines the operation produced
        let timeoutMs = timeout.kafkaMilliseconds

        var newTopics: [OpaquePointer?] = []
        defer { newTopics.withUnsafeMutableBufferPointer { rd_kafka_NewTopic_destroy_array($0.baseAddress, $0.count) } }
        var errstr = [CChar](repeating: 0, count: 512)
        for topic in topics {
            let newTopic = errstr.withUnsafeMutableBufferPointer {
                rd_kafka_NewTopic_new(topic.name, topic.partitions, topic.replicationFactor, $0.baseAddress, $0.count)
            }
            guard let newTopic else {
                let text = String(decoding: errstr.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                throw KafkaError(RD_KAFKA_RESP_ERR__INVALID_ARG, message: "topic \(topic.name): \(text)")
            }
            newTopics.append(newTopic)
            for (name, value) in configs.sorted(by: { $0.key < $1.key }) {
                try KafkaError.check(rd_kafka_NewTopic_set_config(newTopic, name, value), "topic \(topic.name) config \(name)")
            }
        }

        guard let options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS) else {
            throw KafkaError(RD_KAFKA_RESP_ERR__FAIL, message: "rd_kafka_AdminOptions_new failed")
        }
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = errstr.withUnsafeMutableBufferPointer {
            rd_kafka_AdminOptions_set_request_timeout(options, timeoutMs, $0.baseAddress, $0.count)
        }
        _ = errstr.withUnsafeMutableBufferPointer {
            rd_kafka_AdminOptions_set_operation_timeout(options, timeoutMs, $0.baseAddress, $0.count)
        }

        let queue = rd_kafka_queue_new(rk)!
        defer { rd_kafka_queue_destroy(queue) }
        newTopics.withUnsafeMutableBufferPointer {
            rd_kafka_CreateTopics(rk, $0.baseAddress, $0.count, options, queue)
        }
        // The request itself is bounded by the request timeout; allow a little more for the result event.
        guard let event = rd_kafka_queue_poll(queue, timeoutMs &+ 1_000) else {
            throw KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT, message: "CreateTopics: no answer within \(timeout)")
        }
        defer { rd_kafka_event_destroy(event) }
        let err = rd_kafka_event_error(event)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(err, message: "CreateTopics: \(String(cString: rd_kafka_event_error_string(event)))")
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else {
            throw KafkaError(RD_KAFKA_RESP_ERR__BAD_MSG, message: "CreateTopics: unexpected result event")
        }
        var count = 0
        guard let results = rd_kafka_CreateTopics_result_topics(result, &count) else { return }
        for index in 0..<count {
            guard let topicResult = results[index] else { continue }
            let topicErr = rd_kafka_topic_result_error(topicResult)
            if topicErr == RD_KAFKA_RESP_ERR_NO_ERROR || topicErr == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS { continue }
            let name = String(cString: rd_kafka_topic_result_name(topicResult))
            let text = rd_kafka_topic_result_error_string(topicResult).map { String(cString: $0) }
                ?? String(cString: rd_kafka_err2str(topicErr))
            throw KafkaError(topicErr, message: "CreateTopics \(name): \(text)")
        }
    }
}
