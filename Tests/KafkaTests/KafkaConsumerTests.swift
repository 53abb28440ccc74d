import Kafka
import Testing

@Suite("KafkaConsumer against the mock cluster")
struct KafkaConsumerTests {
    @Test("1000 keyed messages through the bootstrap proxy arrive exactly once, in per-key order")
    func produceAndConsumeThroughProxy() async throws {
        let (logger, _) = makeLogger("consume-1000")
        let cluster = try MockCluster(logger: logger)
        try cluster.createTopic("usage", partitions: 4)
        let bootstrap = try cluster.startBootstrapProxy(port: 0)
        #expect(bootstrap.hasPrefix("127.0.0.1:"))

        let messages: [(key: String?, value: String)] = (0..<1000).map { i in
            (key: "user-\(i % 37)", value: "user-\(i % 37)#\(i)")
        }
        let reports = try await onThread {
            let producer = try KafkaProducer(configuration: fastProducerSettings(bootstrap), logger: logger)
            return try produceAll(producer, topic: "usage", messages)
        }
        #expect(reports.count == 1000)
        #expect(reports.allSatisfy { $0.error == nil })
        #expect(Set(reports.map(\.token)) == Set(0..<1000))

        let (received, events) = try await onThread {
            let consumer = try KafkaConsumer(configuration: fastConsumerSettings(bootstrap, group: "g-1000"), logger: logger)
            defer { consumer.close() }
            try consumer.subscribe(topics: ["usage"])
            let received = consume(consumer, count: 1000)
            return (received, consumer.takeRebalanceEvents())
        }
        #expect(received.count == 1000)
        // Exactly once: every (key, value) pair, no duplicates.
        let pairs = received.map { "\($0.key)=\($0.value)" }
        #expect(Set(pairs).count == 1000)
        #expect(Set(pairs) == Set(messages.map { "\($0.key!)=\($0.value)" }))
        // Per-key order: sequence numbers of each key ascend.
        var lastByKey: [String: Int] = [:]
        var ordered = true
        for message in received {
            let sequence = Int(message.value.split(separator: "#")[1])!
            if let last = lastByKey[message.key], last >= sequence { ordered = false }
            lastByKey[message.key] = sequence
        }
        #expect(ordered)
        // One key, one partition.
        #expect(Dictionary(grouping: received, by: \.key).values.allSatisfy { Set($0.map(\.partition)).count == 1 })
        let assigned = events.compactMap { event -> [TopicPartition]? in
            if case .assigned(let partitions) = event { return partitions }
            return nil
        }.flatMap { $0 }
        #expect(Set(assigned) == Set((0..<4).map { TopicPartition(topic: "usage", partition: $0) }))
    }

    @Test("the cooperative protocol assigns and revokes incrementally")
    func cooperativeRebalance() async throws {
        let (logger, _) = makeLogger("cooperative")
        let cluster = try MockCluster(logger: logger)
        try cluster.createTopic("coop", partitions: 3)
        let bootstrap = cluster.bootstrapServers
        _ = try await onThread {
            let producer = try KafkaProducer(configuration: fastProducerSettings(bootstrap), logger: logger)
            return try produceAll(producer, topic: "coop", (0..<30).map { (key: "k\($0)", value: "v\($0)") })
        }
        var settings = fastConsumerSettings(bootstrap, group: "g-coop")
        settings["partition.assignment.strategy"] = "cooperative-sticky"
        let configuration = settings
        let (received, events, assignment) = try await onThread {
            let consumer = try KafkaConsumer(configuration: configuration, logger: logger)
            try consumer.subscribe(topics: ["coop"])
            let received = consume(consumer, count: 30)
            let assignment = try consumer.assignment()
            consumer.close()
            consumer.close()  // idempotent
            #expect(consumer.poll(maxMessages: 10, timeout: .milliseconds(10)) { _ in } == 0)
            #expect(throws: KafkaError.self) { try consumer.assignment() }
            return (received, consumer.takeRebalanceEvents(), assignment)
        }
        let all = Set((0..<3).map { TopicPartition(topic: "coop", partition: $0) })
        #expect(received.count == 30)
        #expect(Set(assignment) == all)
        #expect(events.count == 2)
        if case .assigned(let partitions) = events.first { #expect(Set(partitions) == all) } else { Issue.record("\(events)") }
        if case .revoked(let partitions) = events.last { #expect(Set(partitions) == all) } else { Issue.record("\(events)") }
    }

    @Test("a new consumer in the group resumes exactly after the committed offsets (committed waiting, or not)",
          arguments: [true, false])
    func commitAndResume(waiting: Bool) async throws {
        let (logger, _) = makeLogger("commit-resume")
        let cluster = try MockCluster(logger: logger)
        try cluster.createTopic("events", partitions: 2)
        let bootstrap = cluster.bootstrapServers
        let messages: [(key: String?, value: String)] = (0..<100).map { (key: "k\($0 % 5)", value: "v\($0)") }
        let reports = try await onThread {
            let producer = try KafkaProducer(configuration: fastProducerSettings(bootstrap), logger: logger)
            return try produceAll(producer, topic: "events", messages)
        }
        #expect(reports.count == 100 && reports.allSatisfy { $0.error == nil })

        let settings = fastConsumerSettings(bootstrap, group: waiting ? "g-resume" : "g-resume-async")
        let (first, committedOffsets) = try await onThread {
            let consumer = try KafkaConsumer(configuration: settings, logger: logger)
            defer { consumer.close() }
            try consumer.subscribe(topics: ["events"])
            let first = consume(consumer, count: 40, batch: 7)
            var next: [Int32: Int64] = [:]
            for message in first { next[message.partition] = max(next[message.partition] ?? 0, message.offset + 1) }
            let offsets = next.map { TopicPartitionOffset(topic: "events", partition: $0.key, offset: $0.value) }
            guard waiting else {
                // Not waited for: closing (the `defer`) waits for it, and the second run resumes after it.
                try consumer.commitAsync(offsets)
                return (first, offsets)
            }
            try consumer.commit(offsets)
            let committed = try consumer.committed(
                [TopicPartition(topic: "events", partition: 0), TopicPartition(topic: "events", partition: 1)],
                timeout: .seconds(5)
            )
            return (first, committed)
        }
        #expect(first.count == 40)
        for entry in committedOffsets {
            let handed = first.filter { $0.partition == entry.partition }
            #expect(entry.offset == (handed.map(\.offset).max().map { $0 + 1 } ?? TopicPartitionOffset.invalid))
        }

        let second = try await onThread {
            let consumer = try KafkaConsumer(configuration: settings, logger: logger)
            defer { consumer.close() }
            try consumer.subscribe(topics: ["events"])
            return consume(consumer, count: 60)
        }
        #expect(second.count == 60)
        // No redelivery, no gap: together the two runs saw every message once.
        let firstValues = Set(first.map(\.value))
        let secondValues = Set(second.map(\.value))
        #expect(firstValues.isDisjoint(with: secondValues))
        #expect(firstValues.union(secondValues) == Set(messages.map(\.value)))
        for entry in committedOffsets where entry.offset >= 0 {
            let resumedAt = second.filter { $0.partition == entry.partition }.map(\.offset).min()
            #expect(resumedAt == nil || resumedAt == entry.offset)
        }
    }

    @Test("manual assignment, watermarks, partition count, offsets for times")
    func manualAssignAndOffsets() async throws {
        let (logger, _) = makeLogger("manual-assign")
        let cluster = try MockCluster(logger: logger)
        try cluster.createTopic("replay", partitions: 3)
        let bootstrap = cluster.bootstrapServers
        let messages: [(key: String?, value: String)] = (0..<30).map { (key: "key-\($0)", value: "value-\($0)") }
        let reports = try await onThread {
            let producer = try KafkaProducer(configuration: fastProducerSettings(bootstrap), logger: logger)
            return try produceAll(producer, topic: "replay", messages)
        }
        #expect(reports.count == 30 && reports.allSatisfy { $0.error == nil })
        let perPartition = Dictionary(grouping: reports, by: \.partition).mapValues(\.count)

        try await onThread {
            let consumer = try KafkaConsumer(configuration: fastConsumerSettings(bootstrap, group: nil), logger: logger)
            defer { consumer.close() }
            #expect(try consumer.partitionCount(topic: "replay", timeout: .seconds(5)) == 3)
            var total: Int64 = 0
            for partition in Int32(0)..<3 {
                let marks = try consumer.watermarks(topic: "replay", partition: partition, timeout: .seconds(5))
                #expect(marks.low == 0)
                #expect(marks.high == Int64(perPartition[partition] ?? 0))
                total += marks.high
            }
            #expect(total == 30)

            // Start partition 1 two messages in.
            let busiest = perPartition.max { $0.value < $1.value }!.key
            try consumer.assign([TopicPartitionOffset(topic: "replay", partition: busiest, offset: 2)])
            #expect(try consumer.assignment() == [TopicPartition(topic: "replay", partition: busiest)])
            let expected = perPartition[busiest]! - 2
            let received = consume(consumer, count: expected)
            #expect(received.count == expected)
            #expect(received.first?.offset == 2)
            #expect(received.map(\.offset) == (2..<Int64(perPartition[busiest]!)).map { $0 })
            #expect(received.allSatisfy { $0.partition == busiest })

            // Nothing committed without a group.id-less commit; committed() needs a group, so only check
            // offsetsForTimes here. librdkafka 2.0.2's mock answers ListOffsets by timestamp with -1.
            let query = (Int32(0)..<3).map { TopicPartitionOffset(topic: "replay", partition: $0, offset: 0) }
            let outcome = Result { try consumer.offsetsForTimes(query, timeout: .seconds(5)) }
            switch outcome {
            case .success(let offsets):
                #expect(offsets.allSatisfy { $0.offset == -1 }, "mock answered \(offsets)")
            case .failure(let error):
                Issue.record("offsetsForTimes failed on the mock: \(error)")
            }
        }
    }

    @Test("pause and resume keep the assignment and stop delivery")
    func pauseResume() async throws {
        let (logger, _) = makeLogger("pause-resume")
        let cluster = try MockCluster(logger: logger)
        try cluster.createTopic("paused", partitions: 1)
        let bootstrap = cluster.bootstrapServers
        let reports = try await onThread {
            let producer = try KafkaProducer(configuration: fastProducerSettings(bootstrap), logger: logger)
            return try produceAll(producer, topic: "paused", (0..<10).map { (key: nil, value: "m\($0)") })
        }
        #expect(reports.count == 10)
        try await onThread {
            let consumer = try KafkaConsumer(configuration: fastConsumerSettings(bootstrap, group: nil), logger: logger)
            defer { consumer.close() }
            let partition = TopicPartition(topic: "paused", partition: 0)
            try consumer.assign([TopicPartitionOffset(topic: "paused", partition: 0, offset: TopicPartitionOffset.beginning)])
            let first = consume(consumer, count: 4, batch: 4)
            #expect(first.map(\.value) == ["m0", "m1", "m2", "m3"])
            try consumer.pause([partition])
            // Drain what was prefetched before the pause took effect; then nothing more may arrive.
            _ = consume(consumer, count: 10, timeout: .milliseconds(300))
            let whilePaused = consume(consumer, count: 1, timeout: .milliseconds(500))
            #expect(whilePaused.isEmpty)
            try consumer.resume([partition])
            #expect(try consumer.assignment() == [partition])
        }
    }

    @Test("a handler that throws rewinds the rest of the batch")
    func throwingHandlerRewinds() async throws {
        struct Stop: Error {}
        let (logger, _) = makeLogger("rewind")
        let cluster = try MockCluster(logger: logger)
        try cluster.createTopic("rewind", partitions: 1)
        let bootstrap = cluster.bootstrapServers
        _ = try await onThread {
            let producer = try KafkaProducer(configuration: fastProducerSettings(bootstrap), logger: logger)
            return try produceAll(producer, topic: "rewind", (0..<20).map { (key: nil, value: "m\($0)") })
        }
        try await onThread {
            let consumer = try KafkaConsumer(configuration: fastConsumerSettings(bootstrap, group: nil), logger: logger)
            defer { consumer.close() }
            try consumer.assign([TopicPartitionOffset(topic: "rewind", partition: 0, offset: TopicPartitionOffset.beginning)])
            var seen: [Int64] = []
            // Wait until the whole topic is prefetched, then fail on offset 5.
            var failed = false
            let deadline = ContinuousClock.now + .seconds(10)
            while !failed && ContinuousClock.now < deadline {
                do {
                    _ = try consumer.poll(maxMessages: 20, timeout: .milliseconds(100)) { message in
                        if message.offset == 5 { throw Stop() }
                        seen.append(message.offset)
                    }
                } catch is Stop {
                    failed = true
                }
            }
            #expect(failed)
            let rest = consume(consumer, count: 15)
            #expect(seen == [0, 1, 2, 3, 4])
            #expect(rest.map(\.offset) == (5..<20).map { $0 })
        }
    }
}
