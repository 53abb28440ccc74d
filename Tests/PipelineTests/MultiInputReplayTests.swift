import Foundation
import Kafka
import Testing
import TokenwatchConfig
import TokenwatchCore
@testable import TokenwatchService

/// A topic replay of a native and an OTLP input together, against the mock cluster.
@Suite("Replay of several inputs", .serialized)
struct MultiInputReplayTests {
    static let t0: Int64 = 1_795_555_200_000
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/otlp/ingest")

    struct Row: Decodable { var id: String; var ts: Int64; var user: String?; var input: Int64; var output: Int64; var file: String }
    struct Scenario: Decodable { var records: [Row] }

    static func produce(_ values: [(key: [UInt8]?, value: [UInt8])], topic: String, brokers: String) throws {
        let producer = try KafkaProducer(configuration: ["bootstrap.servers": brokers, "linger.ms": "5"], logger: quietLogger())
        for (i, v) in values.enumerated() { try producer.produce(topic: topic, key: v.key, value: v.value, token: UInt64(i)) }
        #expect(producer.flush(timeout: .seconds(30)))
        #expect(producer.pollDeliveries(timeout: .zero).allSatisfy { $0.error == nil })
    }

    @Test("every 24h board equals a brute force over native and resolved OTLP events; dead letters name the OTLP topic")
    func nativeAndOTLPTopicsReplayTogether() throws {
        let cluster = try MockCluster(brokers: 1, logger: quietLogger())
        try cluster.createTopic("ai-usage", partitions: 2)
        try cluster.createTopic("otel-logs", partitions: 1)
        var native: [(user: String, ts: Int64, tokens: Int64)] = []
        var nativeMessages: [(key: [UInt8]?, value: [UInt8])] = []
        for i in 0..<120 {
            let user = ["alice@example.com", "erin", "frank"][i % 3]
            let ts = Self.t0 + Int64(i) * 20_000
            native.append((user, ts, Int64(i + 1)))
            let json = #"{"event_id":"n\#(i)","ts":\#(ts),"user_id":"\#(user)","input_tokens":\#(i + 1),"output_tokens":0}"#
            nativeMessages.append((Array(user.utf8), Array(json.utf8)))
        }
        try Self.produce(nativeMessages, topic: "ai-usage", brokers: cluster.bootstrapServers)
        let scenario = try JSONDecoder().decode(Scenario.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("expected.json")))
        let files = (0..<20).map { String(format: "batch-%02d.%@", $0, $0 % 2 == 0 ? "pb" : "json") }
        try Self.produce(try files.map { (nil, Array(try Data(contentsOf: Self.fixtures.appendingPathComponent($0)))) },
                         topic: "otel-logs", brokers: cluster.bootstrapServers)

        let dir = temporaryDirectory("multi-input-replay")
        let replayer = Replayer(engine: testEngineConfiguration(), inputTopic: "ai-usage", from: nil, to: nil, logger: quietLogger(),
                                progress: ProgressReporter(enabled: false))
        var sink = try DirectorySink(directory: dir)
        let inputs = [InputSettings(topic: "ai-usage"), InputSettings(topic: "otel-logs", format: .otlp)]
        let summary = try replayer.replayTopics(brokers: cluster.bootstrapServers, inputs: inputs, librdkafka: [:], sink: &sink)
        #expect(summary.messages == 140)

        // Brute force: native events, and the OTLP records of these batches that resolve, once per id.
        var events = native
        var seen = Set<String>()
        for r in scenario.records where files.contains(r.file) && seen.insert(r.id).inserted {
            if let user = r.user { events.append((user, r.ts, r.input + r.output)) }
        }
        let boards = try readLines(dir + "/leaderboard.jsonl").compactMap {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.filter { $0["window"] as? String == "24h" && $0["scope"] as? String == "global" }
        #expect(boards.count >= 5)
        for board in boards {
            let start = (board["window_start"] as! NSNumber).int64Value, end = (board["window_end"] as! NSNumber).int64Value
            var want: [String: Int64] = [:]
            for e in events where e.ts >= start && e.ts < end { want[e.user, default: 0] += e.tokens }
            var got: [String: Int64] = [:]
            for entry in board["entries"] as! [[String: Any]] { got[entry["user_id"] as! String] = (entry["tokens"] as! NSNumber).int64Value }
            #expect(got == want, "board as of \(board["as_of"]!)")
        }
        let letters = try readLines(dir + "/deadletter.jsonl").compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let unresolved = scenario.records.filter { files.contains($0.file) && $0.user == nil }.count
        #expect(letters.count == unresolved)
        #expect(letters.allSatisfy { $0["topic"] as? String == "otel-logs" && $0["partition"] as? Int == 0 && $0["reason"] as? String == "otlp:no_identity" })
    }

    @Test("one input named by inputs: (not kafka.input_topic): its dead letters name it")
    func deadLettersNameTheInputNotTheShorthand() throws {
        let cluster = try MockCluster(brokers: 1, logger: quietLogger())
        try cluster.createTopic("usage-v2", partitions: 1)
        try Self.produce([(nil, Array("not json".utf8))], topic: "usage-v2", brokers: cluster.bootstrapServers)
        let dir = temporaryDirectory("renamed-input")
        let replayer = Replayer(engine: testEngineConfiguration(), inputTopic: "ai-usage", from: nil, to: nil, logger: quietLogger(),
                                progress: ProgressReporter(enabled: false))
        var sink = try DirectorySink(directory: dir)
        _ = try replayer.replayTopics(brokers: cluster.bootstrapServers, inputs: [InputSettings(topic: "usage-v2")], librdkafka: [:], sink: &sink)
        let letters = try readLines(dir + "/deadletter.jsonl")
        #expect(letters.count == 1 && letters[0].contains(#""topic":"usage-v2","partition":0"#))
    }
}
