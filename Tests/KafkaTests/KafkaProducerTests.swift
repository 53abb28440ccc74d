import Foundation
import Kafka
import Testing

@Suite("KafkaProducer against the mock cluster")
struct KafkaProducerTests {
    @Test("broker down for ~2 s: after it is back every message is delivered exactly once")
    func brokerBounceDeliversExactlyOnce() async throws {
        let (logger, logs) = makeLogger("broker-bounce")
        let cluster = try MockCluster(logger: logger)
        try cluster.createTopic("bounce", partitions: 2)
        let bootstrap = cluster.bootstrapServers

        let outcome = try await onThread { () throws -> (reports: [DeliveryReport], deliveredWhileDown: Int, total: Int) in
            var settings = fastProducerSettings(bootstrap)
            settings["message.timeout.ms"] = "30000"
            let producer = try KafkaProducer(configuration: settings, logger: logger)
            // Connect first, so the outage hits an established producer (with its idempotent producer id).
            var reports = try produceAll(producer, topic: "bounce", [(key: "warm-up", value: "warm-up")])
            #expect(reports.count == 1 && reports[0].error == nil)

            try cluster.setBrokerDown(1)
            let downSince = ContinuousClock.now
            for index in 1...200 {
                try producer.produce(topic: "bounce", key: Array("k\(index % 10)".utf8), value: Array("v\(index)".utf8), token: UInt64(index))
            }
            // Serve callbacks while the broker stays down; nothing can be acknowledged now.
            var deliveredWhileDown = 0
            while ContinuousClock.now - downSince < .seconds(2) {
                deliveredWhileDown += producer.pollDeliveries(timeout: .milliseconds(100)).filter { $0.error == nil }.count
            }
            try cluster.setBrokerUp(1)

            reports = []
            let complete = waitUntil(timeout: .seconds(25)) {
                reports += producer.pollDeliveries(timeout: .milliseconds(100))
                return reports.count >= 200
            }
            #expect(complete, "only \(reports.count) of 200 reports after the broker came back")
            #expect(producer.flush(timeout: .seconds(5)))
            #expect(producer.outstanding == 0)
            return (reports, deliveredWhileDown, 200)
        }
        #expect(outcome.deliveredWhileDown == 0)
        #expect(outcome.reports.allSatisfy { $0.error == nil }, "\(outcome.reports.compactMap(\.error).prefix(3))")
        #expect(outcome.reports.map(\.token).sorted() == (1...200).map { UInt64($0) })
        // The outage reached our logger through librdkafka's log queue or error callback.
        #expect(logs.all.contains { $0.level >= .warning })

        // Exactly once in the log: 201 messages, no duplicates from retries.
        try await onThread {
            let consumer = try KafkaConsumer(configuration: fastConsumerSettings(bootstrap, group: nil), logger: logger)
            defer { consumer.close() }
            var highs: Int64 = 0
            for partition in Int32(0)..<2 {
                highs += try consumer.watermarks(topic: "bounce", partition: partition, timeout: .seconds(5)).high
            }
            #expect(highs == 201)
            try consumer.assign((Int32(0)..<2).map { TopicPartitionOffset(topic: "bounce", partition: $0, offset: TopicPartitionOffset.beginning) })
            let received = consume(consumer, count: 201)
            #expect(received.count == 201)
            #expect(Set(received.map(\.value)).count == 201)
        }
    }

    @Test("injected retriable Produce errors are retried without duplicates")
    func injectedProduceErrors() async throws {
        let (logger, _) = makeLogger("produce-errors")
        let cluster = try MockCluster(logger: logger)
        try cluster.createTopic("retry", partitions: 1)
        let bootstrap = cluster.bootstrapServers
        // Produce is API key 0; NOT_ENOUGH_REPLICAS (19) and REQUEST_TIMED_OUT (7) are retriable.
        cluster.pushRequestErrors(apiKey: 0, errors: [19, 7, 19])
        let reports = try await onThread {
            // One request in flight: the mock does not check an idempotent producer's sequence numbers,
            // so a failed batch followed by a successful one would be taken as written (FaultTests.pipeline).
            var settings = fastProducerSettings(bootstrap)
            settings["max.in.flight.requests.per.connection"] = "1"
            let producer = try KafkaProducer(configuration: settings, logger: logger)
            return try produceAll(producer, topic: "retry", (0..<50).map { (key: nil, value: "m\($0)") })
        }
        #expect(reports.count == 50)
        #expect(reports.allSatisfy { $0.error == nil })
        try await onThread {
            let consumer = try KafkaConsumer(configuration: fastConsumerSettings(bootstrap, group: nil), logger: logger)
            defer { consumer.close() }
            #expect(try consumer.watermarks(topic: "retry", partition: 0, timeout: .seconds(5)).high == 50)
            try consumer.assign([TopicPartitionOffset(topic: "retry", partition: 0, offset: TopicPartitionOffset.beginning)])
            #expect(consume(consumer, count: 50).map(\.value) == (0..<50).map { "m\($0)" })
        }
        cluster.clearRequestErrors(apiKey: 0)
    }

    @Test("async send awaits the delivery report")
    func asyncSend() async throws {
        let (logger, _) = makeLogger("send")
        let cluster = try MockCluster(logger: logger)
        try cluster.createTopic("send", partitions: 1)
        let producer = try KafkaProducer(configuration: fastProducerSettings(cluster.bootstrapServers), logger: logger)
        let first = try await producer.send(topic: "send", key: Array("k".utf8), value: Array("v0".utf8))
        #expect(first.error == nil)
        #expect(first.partition == 0)
        #expect(first.offset == 0)
        let more = try await withThrowingTaskGroup(of: Int64.self) { group in
            for index in 1...20 {
                group.addTask { try await producer.send(topic: "send", key: nil, value: Array("v\(index)".utf8)).offset }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(more.sorted() == (1...20).map { Int64($0) })
        // Async sends do not leak into the owner's delivery reports.
        #expect(producer.pollDeliveries(timeout: .zero).isEmpty)
    }

    @Test("a full local queue throws a retriable error")
    func queueFullIsRetriable() throws {
        let (logger, _) = makeLogger("queue-full")
        // No broker at all: nothing leaves the queue.
        let producer = try KafkaProducer(
            configuration: ["bootstrap.servers": "127.0.0.1:1", "queue.buffering.max.messages": "5", "message.timeout.ms": "1000"],
            logger: logger
        )
        var caught: KafkaError?
        for index in 0..<10 {
            do {
                try producer.produce(topic: "nowhere", key: nil, value: [1, 2, 3], token: UInt64(index))
            } catch {
                caught = error
                break
            }
        }
        let error = try #require(caught)
        #expect(error.code == -184)
        #expect(error.isRetriable)
        #expect(!error.isFatal)
        #expect(error.description.contains("_QUEUE_FULL"))
        // librdkafka checks the limit loosely (messages already moved to partition queues may not count).
        #expect(producer.outstanding >= 5)
    }
}

@Suite("KafkaProducer serving reports on its own thread")
struct KafkaProducerReportThreadTests {
    @Test("acknowledgements are served while the owner never polls; each report carries when it was served")
    func reportsServedWithoutTheOwnerPolling() async throws {
        let (logger, _) = makeLogger("report-thread")
        let cluster = try MockCluster(logger: logger)
        try cluster.createTopic("served", partitions: 2)
        let bootstrap = cluster.bootstrapServers
        let outcome = try await onThread { () throws -> (served: Bool, reports: [DeliveryReport], before: Int64, after: Int64) in
            let producer = try KafkaProducer(configuration: fastProducerSettings(bootstrap), logger: logger, servesReportsOnOwnThread: true)
            let before = monotonicNowMs()
            for i in 0..<50 { try producer.produce(topic: "served", key: Array("k\(i)".utf8), value: Array("v\(i)".utf8), token: UInt64(i)) }
            // `outstanding` counts reports not yet served too: it reaches 0 only if another thread serves them.
            let served = waitUntil(timeout: .seconds(20)) { producer.outstanding == 0 }
            let after = monotonicNowMs()
            return (served, producer.pollDeliveries(timeout: .zero), before, after)
        }
        #expect(outcome.served)
        #expect(outcome.reports.map(\.token).sorted() == (0..<50).map { UInt64($0) })
        #expect(outcome.reports.allSatisfy { $0.error == nil })
        #expect(outcome.reports.allSatisfy { $0.servedAtMs >= outcome.before && $0.servedAtMs <= outcome.after })
    }
}

/// `CLOCK_MONOTONIC` in ms, the clock of `DeliveryReport.servedAtMs`.
func monotonicNowMs() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}
