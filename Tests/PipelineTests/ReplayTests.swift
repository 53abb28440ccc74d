import Foundation
import Kafka
import Logging
import Testing
import TokenwatchCore
@testable import TokenwatchService
@testable import TokenwatchSimulation

/// Synthetic history written as JSON lines, with disorder, duplicates and some very late events.
func writeHistory(to path: String, events: Int, users: Int, start: Int64, spanMs: Int64, seed: UInt64) throws -> [[UInt8]] {
    var traffic = SyntheticTraffic(users: users, seed: seed)
    var rng = SplitMix(seed: seed ^ 0xABCD)
    var lines: [[UInt8]] = []
    var file: [UInt8] = []
    for i in 0..<events {
        var ts = start + spanMs * Int64(i) / Int64(events)
        ts -= Int64(rng.next() % 120_000)                              // disorder within allowed lateness
        if rng.next() % 40 == 0 { ts -= Int64(rng.next() % 108_000_000) } // beyond it: late, some too late for any window
        let line = traffic.next(ts: ts).value
        lines.append(line)
        if rng.next() % 30 == 0 { lines.append(line) }                 // an exact duplicate
    }
    for l in lines { file += l + [0x0A] }
    try Data(file).write(to: URL(fileURLWithPath: path))
    return lines
}

/// A simulated population (regular, power and gaming personas) as JSON lines, so rules fire.
func writePopulation(to path: String, users: Int, days: Int, start: Int64, seed: UInt64) throws -> [[UInt8]] {
    var population = try SyntheticPopulation(scenario: "mixed", users: users, seed: seed, start: start, days: days)
    var lines: [[UInt8]] = []
    while let day = population.nextDay() {
        for e in day { lines.append(population.encode(e).value) }
    }
    var file: [UInt8] = []
    for l in lines { file += l + [0x0A] }
    try Data(file).write(to: URL(fileURLWithPath: path))
    return lines
}

func temporaryDirectory(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tokenwatch-\(name)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

func readLines(_ path: String) throws -> [String] {
    try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
}

func asOf(_ line: String) -> Int64 {
    let o = try! JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
    return (o["as_of"] as! NSNumber).int64Value
}

/// No logs, unless `TOKENWATCH_TEST_LOGS` is set (then info and above to stderr, to see where time goes).
func quietLogger() -> Logger {
    if ProcessInfo.processInfo.environment["TOKENWATCH_TEST_LOGS"] != nil {
        var l = Logger(label: "test", factory: { StreamLogHandler.standardError(label: $0) })
        l.logLevel = .info
        return l
    }
    var l = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    l.logLevel = .critical
    return l
}

func testEngineConfiguration() -> EngineConfiguration {
    var c = EngineConfiguration()
    c.windows = [WindowSpec(name: "1h", lengthMs: 3_600_000, stepMs: 60_000), WindowSpec(name: "24h", lengthMs: 86_400_000, stepMs: 900_000)]
    c.snapshotIntervalMs = 300_000
    c.topK = 10
    c.maxFutureSkewMs = 86_400_000
    c.idleTimeoutMs = 3_600_000
    return c
}

@Suite("Replay from files")
struct FileReplayTests {
    /// Partitions kcat (librdkafka's default partitioner) gave these keys on a 64-partition topic.
    @Test func keyPartitionerAgreesWithLibrdkafka() {
        for (key, partition) in [("alice", 7), ("bob", 0), ("carol", 3), ("user000001", 52), ("x", 3)] {
            let p = Array(key.utf8).withUnsafeBytes { KeyPartitioner.partition(key: $0, partitions: 64) }
            #expect(p == Int32(partition), "\(key)")
        }
        // A nested "user_id" before the real one does not fool the file partitioner.
        let line = #"{"meta":{"user_id":"bob"},"event_id":"e","ts":1,"user_id":"alice","input_tokens":1,"output_tokens":1}"#
        #expect(Array(line.utf8).withUnsafeBytes { Replayer.partition(of: $0, partitions: 64) } == 7)
    }

    @Test func truncatedGzipIsAnErrorNotAShortReplay() throws {
        let dir = temporaryDirectory("bad-gz")
        _ = try writeHistory(to: dir + "/events.jsonl", events: 3000, users: 10, start: start, spanMs: 3_600_000, seed: 3)
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gzip.arguments = [dir + "/events.jsonl"]
        try gzip.run()
        gzip.waitUntilExit()
        var data = try Data(contentsOf: URL(fileURLWithPath: dir + "/events.jsonl.gz"))
        data = data.prefix(data.count / 2)
        try data.write(to: URL(fileURLWithPath: dir + "/cut.jsonl.gz"))
        let replayer = Replayer(engine: testEngineConfiguration(), inputTopic: "ai-usage", from: nil, to: nil, logger: quietLogger(), progress: ProgressReporter(enabled: false))
        var sink = try DirectorySink(directory: dir + "/out")
        #expect(throws: LineReaderError.self) { try replayer.replayFile(path: dir + "/cut.jsonl.gz", partitions: 4, sink: &sink) }
    }

    let start: Int64 = 1_795_392_000_000  // 2026-11-24T00:00:00Z minus two days, on a round hour

    @Test func fileReplayEqualsTheEngineFedPartitionByPartition() throws {
        let dir = temporaryDirectory("file-replay")
        let lines = try writeHistory(to: dir + "/events.jsonl", events: 6000, users: 40, start: start, spanMs: 12 * 3_600_000, seed: 5)
        let replayer = Replayer(engine: testEngineConfiguration(), inputTopic: "ai-usage", from: nil, to: nil, logger: quietLogger(), progress: ProgressReporter(enabled: false))
        var sink = try DirectorySink(directory: dir + "/out")
        let summary = try replayer.replayFile(path: dir + "/events.jsonl", partitions: 4, sink: &sink)
        #expect(summary.messages == lines.count)
        #expect(summary.counters.duplicates > 0)
        #expect((summary.counters.deadLetters["late"] ?? 0) > 0)
        #expect(summary.counters.counted + summary.counters.duplicates + summary.counters.deadLetterTotal == lines.count)

        // Every late event is accounted for: counted somewhere or dead-lettered with reason late.
        let dead = try readLines(dir + "/out/deadletter.jsonl")
        #expect(dead.count == summary.counters.deadLetterTotal)
        #expect(dead.allSatisfy { $0.contains(#""reason":"late""#) })

        // The same engine fed partition by partition (CRC-32 of user_id, as librdkafka does), all at once.
        var engine = Engine(configuration: testEngineConfiguration())
        engine.assign(partitions: [0, 1, 2, 3])
        var offsets = [Int64](repeating: 0, count: 4)
        for line in lines {
            line.withUnsafeBytes { buf in
                let p = Replayer.partition(of: buf, partitions: 4)
                engine.process(buf, partition: p, offset: offsets[Int(p)])
                offsets[Int(p)] += 1
            }
        }
        engine.emitDueSnapshots(idle: [0, 1, 2, 3])
        let expected = engine.takeOutputs().filter { $0.kind == .leaderboard }.map { String(decoding: $0.value, as: UTF8.self) }
        let got = try readLines(dir + "/out/leaderboard.jsonl")
        #expect(got.count == expected.count)
        let same = got == expected
        #expect(same, "file replay boards differ from the engine's")
        #expect(got.count > 100)
    }

    @Test func gzipInputAndTimeRangeGiveTheSameBoards() throws {
        let dir = temporaryDirectory("gz-replay")
        _ = try writeHistory(to: dir + "/events.jsonl", events: 4000, users: 30, start: start, spanMs: 8 * 3_600_000, seed: 9)
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gzip.arguments = ["-k", dir + "/events.jsonl"]
        try gzip.run()
        gzip.waitUntilExit()
        #expect(gzip.terminationStatus == 0)

        func replay(_ input: String, from: Int64?, to: Int64?, out: String) throws -> [String] {
            let r = Replayer(engine: testEngineConfiguration(), inputTopic: "ai-usage", from: from, to: to, logger: quietLogger(), progress: ProgressReporter(enabled: false))
            var sink = try DirectorySink(directory: out)
            _ = try r.replayFile(path: input, partitions: 8, sink: &sink)
            return try readLines(out + "/leaderboard.jsonl")
        }
        let all = try replay(dir + "/events.jsonl", from: nil, to: nil, out: dir + "/a")
        let zipped = try replay(dir + "/events.jsonl.gz", from: nil, to: nil, out: dir + "/b")
        #expect(all == zipped)

        let from = start + 2 * 3_600_000, to = start + 5 * 3_600_000
        let ranged = try replay(dir + "/events.jsonl", from: from, to: to, out: dir + "/c")
        let expected = all.filter { (from...to).contains(asOf($0)) }
        #expect(ranged == expected)
        let times = Set(ranged.map(asOf))
        #expect(times == Set(stride(from: from, through: to, by: 300_000)))
    }
}

@Suite("Replay from topics", .serialized)
struct TopicReplayTests {
    let start: Int64 = 1_795_219_200_000  // four days before 2026-11-24T00:00:00Z

    /// Produces `lines` keyed by user id with librdkafka's default partitioner.
    static func produce(_ lines: [[UInt8]], topic: String, brokers: String) throws {
        let producer = try KafkaProducer(configuration: ["bootstrap.servers": brokers, "linger.ms": "5"], logger: quietLogger())
        var failed = 0
        for (i, line) in lines.enumerated() {
            var decoder = EventDecoder()
            let key: [UInt8] = line.withUnsafeBytes { buf in
                guard let e = try? decoder.decode(buf) else { return [] }
                return decoder.withBytes(e.userId) { Array($0) }
            }
            while true {
                do { try producer.produce(topic: topic, key: key, value: line, token: UInt64(i)); break } catch {
                    failed += producer.pollDeliveries(timeout: .milliseconds(20)).filter { $0.error != nil }.count
                }
            }
        }
        #expect(producer.flush(timeout: .seconds(30)))
        failed += producer.pollDeliveries(timeout: .zero).filter { $0.error != nil }.count
        #expect(failed == 0)
    }

    /// Every message of `topic`, in partition order.
    static func readAll(_ topic: String, brokers: String) throws -> [String] {
        let consumer = try KafkaConsumer(configuration: ["bootstrap.servers": brokers], logger: quietLogger())
        defer { consumer.close() }
        let n = try consumer.partitionCount(topic: topic, timeout: .seconds(10))
        var ends: [Int32: Int64] = [:]
        var assignment: [TopicPartitionOffset] = []
        for p in 0..<Int32(n) {
            let w = try consumer.watermarks(topic: topic, partition: p, timeout: .seconds(10))
            if w.high > w.low { ends[p] = w.high; assignment.append(TopicPartitionOffset(topic: topic, partition: p, offset: w.low)) }
        }
        guard !assignment.isEmpty else { return [] }
        try consumer.assign(assignment)
        var out: [String] = []
        var position: [Int32: Int64] = [:]
        let deadline = ContinuousClock.now + .seconds(180)
        while ends.contains(where: { (position[$0.key] ?? 0) < $0.value }) && ContinuousClock.now < deadline {
            _ = consumer.poll(maxMessages: 10_000, timeout: .milliseconds(200)) { m in
                guard m.error == nil else { return }
                position[m.partition] = m.offset + 1
                out.append(String(decoding: m.payload, as: UTF8.self))
            }
        }
        return out
    }

    @Test func topicReplayGivesExactlyTheRangeAndMatchesFileReplay() throws {
        let cluster = try MockCluster(brokers: 1, logger: quietLogger())
        try cluster.createTopic("ai-usage", partitions: 6)
        let dir = temporaryDirectory("topic-replay")
        let lines = try writeHistory(to: dir + "/events.jsonl", events: 9000, users: 40, start: start, spanMs: 3 * 86_400_000, seed: 21)
        try Self.produce(lines, topic: "ai-usage", brokers: cluster.bootstrapServers)

        let from = start + 86_400_000 + 3_600_000, to = start + 2 * 86_400_000
        // Three engine threads for the topic, one for the file: the same boards.
        let replayer = Replayer(engine: testEngineConfiguration(), inputTopic: "ai-usage", from: from, to: to, logger: quietLogger(),
                                progress: ProgressReporter(enabled: false), threads: 3)
        var sink = try DirectorySink(directory: dir + "/topic")
        let summary = try replayer.replayTopic(brokers: cluster.bootstrapServers, topic: "ai-usage", librdkafka: [:], sink: &sink)
        #expect(summary.startPath.contains("earliest"))  // the dev broker cannot answer offsets-for-times
        let fromTopic = try readLines(dir + "/topic/leaderboard.jsonl")
        #expect(Set(fromTopic.map(asOf)) == Set(stride(from: from, through: to, by: 300_000)))

        let fileReplayer = Replayer(engine: testEngineConfiguration(), inputTopic: "ai-usage", from: from, to: to, logger: quietLogger(), progress: ProgressReporter(enabled: false))
        var fileSink = try DirectorySink(directory: dir + "/file")
        _ = try fileReplayer.replayFile(path: dir + "/events.jsonl", partitions: 6, sink: &fileSink)
        let fromFile = try readLines(dir + "/file/leaderboard.jsonl")
        #expect(fromTopic.count == fromFile.count)
        let same = fromTopic == fromFile
        #expect(same, "topic and file replays differ")
    }

    @Test func liveDaemonAndReplaysAgree() async throws {
        let cluster = try MockCluster(brokers: 1, logger: quietLogger())
        for t in ["ai-usage", "tokenwatch.leaderboard", "tokenwatch.alerts", "tokenwatch.deadletter"] {
            try cluster.createTopic(t, partitions: 4)
        }
        let dir = temporaryDirectory("live-vs-replay")
        let lines = try writePopulation(to: dir + "/events.jsonl", users: 60, days: 3, start: start, seed: 33)
        try Self.produce(lines, topic: "ai-usage", brokers: cluster.bootstrapServers)

        var settings = PipelineSettings(brokers: cluster.bootstrapServers, groupId: "live-\(getpid())", inputTopic: "ai-usage",
                                        leaderboardTopic: "tokenwatch.leaderboard", alertsTopic: "tokenwatch.alerts",
                                        deadletterTopic: "tokenwatch.deadletter", librdkafka: [:], engine: testEngineConfiguration(),
                                        stateDirectory: dir + "/state")
        settings.checkpointIntervalMs = 1_000
        let pipeline = Pipeline(settings: settings, logger: quietLogger())
        let run = Task { try await pipeline.run() }
        let deadline = ContinuousClock.now + .seconds(180)
        while pipeline.status.consumed < lines.count && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(pipeline.status.consumed == lines.count)
        pipeline.requestStop()
        try await run.value

        let live = try Self.readAll("tokenwatch.leaderboard", brokers: cluster.bootstrapServers)
        #expect(live.count > 100)
        let lastLive = live.map(asOf).max()!

        let topicReplayer = Replayer(engine: testEngineConfiguration(), inputTopic: "ai-usage", from: start - 86_400_000, to: lastLive, logger: quietLogger(), progress: ProgressReporter(enabled: false))
        var topicSink = try DirectorySink(directory: dir + "/topic")
        _ = try topicReplayer.replayTopic(brokers: cluster.bootstrapServers, topic: "ai-usage", librdkafka: [:], sink: &topicSink)
        let fileReplayer = Replayer(engine: testEngineConfiguration(), inputTopic: "ai-usage", from: nil, to: nil, logger: quietLogger(), progress: ProgressReporter(enabled: false))
        var fileSink = try DirectorySink(directory: dir + "/file")
        _ = try fileReplayer.replayFile(path: dir + "/events.jsonl", partitions: 4, sink: &fileSink)

        // The live daemon publishes up to its watermark; replays also flush the tail at the end of input.
        let fromTopic = try readLines(dir + "/topic/leaderboard.jsonl")
        let fromFile = try readLines(dir + "/file/leaderboard.jsonl").filter { asOf($0) <= lastLive }
        #expect(fromTopic.sorted() == fromFile.sorted())
        let same = live.sorted() == fromTopic.sorted()
        #expect(same, "live boards differ from the replayed ones")
        #expect(live.count == fromTopic.count)
        // Alerts fired up to the live watermark agree too, apart from emitted_at.
        let liveAlerts = try Self.readAll("tokenwatch.alerts", brokers: cluster.bootstrapServers).map(stripEmittedAt).sorted()
        let replayAlerts = try readLines(dir + "/topic/alerts.jsonl").map(stripEmittedAt).sorted()
        #expect(liveAlerts == replayAlerts)
    }
}

/// An alert line without its wall-clock `emitted_at`.
func stripEmittedAt(_ line: String) -> String {
    guard var o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return line }
    o["emitted_at"] = nil
    return (try? String(decoding: JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]), as: UTF8.self)) ?? line
}

/// An alert's event time (`ts`).
func alertTime(_ line: String) -> Int64 {
    let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
    return (o?["ts"] as? NSNumber)?.int64Value ?? Int64.max
}
