import Foundation
import Testing

/// Issue 11's metrics and traces over TCP: Claude Code outcome metrics (cumulative with a restart and a
/// reset, delta, re-delivered) and GenAI spans (protobuf, and OTLP/JSON copies), all made by the
/// OpenTelemetry Python SDK (Tests/Fixtures/otlp/make_outcome_metrics.py, make_span_fixtures.py), on an
/// `otlp` input next to native events, one `tokenwatch run`.
@Suite(.serialized)
struct OTLPMetricsTracesIngestTests {
    typealias E2E = EndToEndTests
    typealias Ingest = OTLPIngestTests

    struct Span: Decodable { var id: String, user: String?, team: String, ts: Int64, input: Int64, output: Int64 }
    struct Spans: Decodable { var requests: Int, spans: [Span] }
    struct MetricEvent: Decodable { var id: String, user: String, team: String, ts: Int64 }
    struct Metrics: Decodable { var requests: Int, events: [MetricEvent] }

    static func fixture<T: Decodable>(_ path: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(contentsOf: Ingest.fixtures.appendingPathComponent(path)))
    }

    static func files(_ dir: String, _ n: Int, _ ext: String) -> [URL] {
        (0..<n).map { Ingest.fixtures.appendingPathComponent(String(format: "%@/%02d.%@", dir, $0, ext)) }
    }

    /// What the brute force counts: attributed spans (once each) and metric outcome events (0 tokens, one
    /// event each), as usage events.
    static func oracleEvents(_ spans: Spans, _ metrics: Metrics) -> [UsageEvent] {
        spans.spans.compactMap { s in
            s.user.map { UsageEvent(eventId: s.id, ts: s.ts, userId: $0, team: s.team, input: s.input, output: s.output, source: nil, payload: []) }
        } + metrics.events.map { UsageEvent(eventId: $0.id, ts: $0.ts, userId: $0.user, team: $0.team, input: 0, output: 0, source: nil, payload: []) }
    }

    @Test("OTLP metrics and GenAI spans next to native events: boards equal a brute force; unattributed on the board; malformed dead-lettered")
    func metricsAndSpansNextToNative() async throws {
        try await Harness.run("otlp-metrics-traces") { h in
            let partitions = 4
            let spans: Spans = try Self.fixture("spans/expected.json")
            let metrics: Metrics = try Self.fixture("outcomes/expected.json")
            let (_, brokers) = try await h.startBroker(partitions: partitions)
            let native = Ingest.nativeEvents(partitions: partitions)
            try await h.produce(brokers: brokers, topic: E2E.inputTopic, native.keyed.map { ($0.userId, $0.payload) })
            for (p, clock) in native.clocks {
                try await h.produce(brokers: brokers, topic: E2E.inputTopic, [(clock.userId, clock.payload)], partition: p)
            }
            let bad = try Self.malformed(h)
            let perPartition: [[URL]] = [
                Self.files("spans", spans.requests, "pb"),
                Self.files("spans", spans.requests, "json"),         // the same spans again: counted once
                Self.files("outcomes", metrics.requests, "pb"),
                bad.map(\.file),
            ]
            for (p, list) in perPartition.enumerated() {
                let clock = Ingest.fixtures.appendingPathComponent("ingest/clock-\(p).pb")
                try await Ingest.produceFiles(h, brokers: brokers, list + [clock], partition: Int32(p))
            }
            let settings = EndToEndTests.settings(topK: 10, windows: Ingest.windows, extra: [
                "TOKENWATCH_INPUTS": "\(E2E.inputTopic):tokenwatch,\(Ingest.otlpTopic):otlp",
                "TOKENWATCH_ENGINE_MAX_FUTURE_SKEW": "3650d",
                "TOKENWATCH_ENGINE_THREADS": "2",
            ])
            let daemon = try h.startDaemon(brokers: brokers, stateDirectory: h.directory.appendingPathComponent("state"), settings: settings)
            let lastAsOf = Ingest.t0 + 44 * 60_000
            try await EndToEndTests.waitForBoard(h, brokers: brokers, asOf: lastAsOf, daemon: daemon)

            let raw = try await h.consume(brokers: brokers, topic: E2E.boardTopic)
            let boards = try parseBoards(raw)
            var brute = BruteForce(produced: native.keyed + native.clocks.map(\.1) + Self.oracleEvents(spans, metrics),
                                   windows: Ingest.windows, topK: 10, snapshotIntervalMs: EndToEndTests.snapshotIntervalMs)
            h.expectNoProblems(brute.verify(boards, expectedLastAsOf: lastAsOf, allowRepeats: false), "boards vs brute force")
            let ranked = Set(boards.flatMap { $0.entries.map(\.userId) })
            h.expect(ranked.isSuperset(of: ["erin@example.com", "idp|frank", "uuid-bob", "alice@example.com"]),
                     "span people and metric people are ranked: \(ranked.sorted())")
            try Self.checkUnattributedOnTheBoard(h, raw, spans: spans)

            let letters = try await Ingest.deadLetters(h, brokers: brokers)
            let malformed = letters.filter { $0.partition == 3 && $0.reason != "otlp:no_identity" }.sorted { $0.offset < $1.offset }
            h.expect(malformed.map(\.reason) == bad.map(\.reason), "malformed dead letters \(malformed.map(\.reason)), expected \(bad.map(\.reason))")
            h.expect(letters.contains { $0.reason == "otlp:no_identity" && $0.partition == 2 }, "the metrics naming nobody are dead-lettered")
            h.expect(try await h.stop(daemon) == 0, "tokenwatch run did not exit 0 after SIGTERM")
        }
    }

    /// The last 1h global board counts the spans naming nobody (distinct, of their tool) in its window.
    static func checkUnattributedOnTheBoard(_ h: Harness, _ raw: [TopicRecord], spans: Spans) throws {
        guard let last = raw.last(where: { $0.key == "1h|global" }),
              let json = try JSONSerialization.jsonObject(with: Data(last.value.utf8)) as? [String: Any],
              let adoption = json["adoption"] as? [String: Any] else { throw h.fail("no 1h global board") }
        let anonymous = Set(spans.spans.filter { $0.user == nil }.map(\.id)).count
        let counts = adoption["unattributed_events"] as? [String: Int] ?? [:]
        h.expect(counts["copilot-chat"] == anonymous && counts["claude_code"] == 1,
                 "adoption.unattributed_events \(counts), expected copilot-chat \(anonymous) and claude_code 1")
    }

    /// Malformed metrics and traces, each with the dead-letter reason it must get.
    static func malformed(_ h: Harness) throws -> [(file: URL, reason: String)] {
        let metric = try Array(Data(contentsOf: files("outcomes", 1, "pb")[0]))
        let span = try Array(Data(contentsOf: files("spans", 1, "pb")[0]))
        return [
            (try Ingest.write(h, "metric-truncated.pb", Array(metric.prefix(metric.count / 2))), "otlp:truncated"),
            (try Ingest.write(h, "span-truncated.pb", Array(span.prefix(span.count - 5))), "otlp:truncated"),
            (try Ingest.write(h, "span-bad-id.json", Array(#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}"#.utf8)),
             "otlp:malformed"),
            (try Ingest.write(h, "metrics-empty.json", Array(#"{"resourceMetrics":[]}"#.utf8)), "otlp:empty"),
        ]
    }
}
