import Foundation
import Testing
@testable import TokenwatchCore

/// Claude Code's outcome metrics, made by the OpenTelemetry Python SDK (Tests/Fixtures/otlp/make_outcome_metrics.py):
/// cumulative with a restart and an in-session reset, delta, re-delivered, one install naming nobody.
@Suite("OTLP outcome metrics: deltas become outcome events, counted once, across shards and restarts")
struct OTLPOutcomeMetricsTests {
    struct Truth: Decodable, Equatable {
        var events: Int64, commits: Int64, prs: Int64
        var lines_added: Int64, lines_removed: Int64
        var accepted_events: Int64, rejected_events: Int64, auto_approved: Int64
        var human_ms: Int64, agent_ms: Int64
    }

    struct Expected: Decodable {
        var requests: Int
        var people: [String: Truth]
        var unattributed_events: Int
        var last_time_ms: Int64
    }

    static func expected() throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: Data(OTLPFixture.bytes("outcomes/expected.json")))
    }

    static func requests(_ ext: String = "pb") throws -> [[UInt8]] {
        try (0..<expected().requests).map { try OTLPFixture.bytes(String(format: "outcomes/%02d.%@", $0, ext)) }
    }

    /// The mapping alone: every point through one `MetricDeltas`, the outcome fields summed per person and
    /// event id (a re-delivered delta point has its first delivery's id: the engine counts it once).
    @Test func theMappingGivesWhatTheToolsAdded() throws {
        var deltas = MetricDeltas()
        var found: [String: Truth] = [:]
        var rejected = 0
        var ids: Set<String> = []
        for request in try Self.requests() {
            let points = try request.withUnsafeBytes { raw in try Result { () throws(OTLPError) in try OTLPProtobufMetrics.points(raw) }.get() }
            for p in points {
                switch OTLPMetricMapping.map(p, delta: deltas.delta(of: p)) {
                case .skipped: continue
                case .rejected(_, let reason): #expect(reason == .noIdentity); rejected += 1
                case .event(let e):
                    guard ids.insert(e.eventId).inserted else { continue }
                    #expect(e.inputTokens == 0 && e.outputTokens == 0 && e.kind == "metric" && e.tool == "claude_code")
                    found[e.userId!, default: Truth.zero].add(e.outcome!)
                }
            }
        }
        #expect(found == (try Self.expected().people))
        #expect(rejected == (try Self.expected().unattributed_events))
    }

    /// One engine: the board's events and outcomes are the truth; tokens stay 0 (token.usage is not
    /// counted); the install naming nobody is unattributed, dead-lettered, never ranked.
    @Test func oneEngineCountsEachPersonsOutcomesOnce() throws {
        var engine = OTLPFixture.engine()
        for (i, r) in try Self.requests().enumerated() { engine.feedOTLP(r, offset: Int64(i)) }
        let board = try Self.board(&engine, partitions: [0], offset: 100)
        try Self.expectTruth(board)
        #expect(engine.ingest.attribution["claude_code"]?.unattributed == 1)
        #expect(engine.counters.deadLetters["otlp:no_identity"] == 1)
    }

    /// Batches spread over partitions and shards, and a restart in the middle: the same board. The delta
    /// state is checkpointed, so the restart neither loses a series' last reading nor counts it again.
    @Test func shardsAndARestartGiveTheSameBoard() throws {
        var attribution: [String: ToolAttribution]?
        for restartAfter in [nil, 1, 2, 3] as [Int?] {
            var engine = ShardedEngine(configuration: OTLPFixture.engine().configuration, shards: 3, keyedPartitions: 4)
            engine.assign(partitions: [0, 1, 2, 3])
            for (i, r) in try Self.requests().enumerated() {
                let p = Int32(i % 4), shard = engine.shard(ofPartition: p)
                engine.withShardAccess { a in a.withShard(shard) { _ = $0.feedOTLP(r, partition: p, offset: Int64(i)) } }
                if i == restartAfter {
                    engine = try ShardedEngine(configuration: engine.configuration, shards: 3, keyedPartitions: 4,
                                               restoring: engine.checkpoint())
                }
            }
            let board = try Self.board(&engine, partitions: [0, 1, 2, 3], offset: 100)
            try Self.expectTruth(board)
            #expect(engine.attribution["claude_code"]?.unattributed == 1)
            // The attribution counters survive the restart: the same as without one.
            #expect(engine.attribution == (attribution ?? engine.attribution))
            attribution = engine.attribution
        }
    }

    @Test func aRestartedEngineKeepsTheSeriesAndTheAttribution() throws {
        var engine = OTLPFixture.engine()
        let requests = try Self.requests()
        for i in 0..<3 { engine.feedOTLP(requests[i], offset: Int64(i)) }
        engine = try Engine(configuration: engine.configuration, restoring: engine.checkpoint())
        #expect(engine.ingest.metricDeltas.count > 0)
        #expect(engine.ingest.attribution["claude_code"]?.unattributed == 1)
        for i in 3..<requests.count { engine.feedOTLP(requests[i], offset: Int64(i)) }
        try Self.expectTruth(try Self.board(&engine, partitions: [0], offset: 100))
    }

    /// OTLP/JSON (the SDK's request through the protobuf JSON mapping): the same points, and the same board.
    @Test func jsonGivesTheSamePointsAndBoard() throws {
        for (pb, json) in zip(try Self.requests("pb"), try Self.requests("json")) {
            let a = try pb.withUnsafeBytes { raw in try Result { () throws(OTLPError) in try OTLPProtobufMetrics.points(raw) }.get() }
            let b = try json.withUnsafeBytes { raw in try Result { () throws(OTLPError) in try OTLPJSONLogs.metricPoints(raw) }.get() }
            #expect(a.count == b.count && !a.isEmpty)
            for (x, y) in zip(a, b) {
                #expect(x.name == y.name && x.value == y.value && x.timeUnixNano == y.timeUnixNano)
                #expect(x.startTimeUnixNano == y.startTimeUnixNano && x.temporality == y.temporality && x.attributes == y.attributes)
            }
        }
        var engine = OTLPFixture.engine()
        for (i, r) in try Self.requests("json").enumerated() { engine.feedOTLP(r, offset: Int64(i)) }
        try Self.expectTruth(try Self.board(&engine, partitions: [0], offset: 100))
        let bad = Array(#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"x","sum":{"dataPoints":[{"asInt":"1.5"}]}}]}]}]}"#.utf8)
        #expect(engine.feedOTLP(bad, offset: 101).deadLetters == [.otlp(.malformed)])
    }

    @Test func malformedMetricsAreDeadLetteredWhole() throws {
        var engine = OTLPFixture.engine()
        let good = try Self.requests()[0]
        #expect(engine.feedOTLP(Array(good.prefix(good.count / 2)), offset: 0).deadLetters.count == 1)
        // A request whose only resource holds a scope with a metric that has no Sum: nothing to count.
        var w = ProtobufWriter()
        w.message(1) { rm in rm.message(2) { sm in sm.message(2) { m in m.string(1, "claude_code.commit.count") } } }
        #expect(engine.feedOTLP(w.bytes, offset: 1).deadLetters == [.otlp(.emptyBatch)])
        #expect(engine.feedOTLP(good, offset: 2).counted > 0)
    }

    // MARK: - Helpers

    typealias Entry = (tokens: Int64, events: Int64, outcomes: Int64)

    /// A service account's event 15 minutes on, in every partition; the last global board's entries.
    static func board<E: BoardSource>(_ engine: inout E, partitions: [Int32], offset: Int64) throws -> [String: Entry] {
        for p in partitions {
            let clock = TestEvent(id: "clock-\(p)", ts: OTLPFixture.t0 + 15 * 60_000, user: "svc-clock", team: "ops", input: 0, output: 0)
            _ = Array(clock.json.utf8).withUnsafeBytes { engine.process($0, partition: p, offset: offset, receivedAtMs: 0,
                                                                        referenceTimeMs: nil, checkingKey: nil) }
        }
        _ = engine.emitDueSnapshots(idle: [], quietAdvanceMs: 0)
        let boards = try engine.takeOutputs().filter { $0.kind == .leaderboard }.map(Board.init).filter { $0.scope == "global" }
        let last = try #require(boards.last)
        var out: [String: Entry] = [:]
        for e in last.entries { out[e.user] = (e.tokens, e.events, e.outcomes) }
        return out
    }

    static func expectTruth(_ board: [String: Entry]) throws {
        let people = try expected().people
        #expect(board.count == people.count)
        for (person, truth) in people {
            let entry = try #require(board[person], "\(person) is not on the board")
            #expect(entry.tokens == 0 && entry.events == truth.events)
            #expect(entry.outcomes == truth.accepted_events + truth.commits + truth.prs)
        }
    }
}

/// What the board helper drives: one engine or a sharded one.
protocol BoardSource {
    mutating func process(_ payload: UnsafeRawBufferPointer, partition: Int32, offset: Int64, receivedAtMs: Int64,
                          referenceTimeMs: Int64?, checkingKey key: UnsafeRawBufferPointer?) -> ProcessResult
    mutating func emitDueSnapshots(idle: Set<Int32>, quietAdvanceMs: Int64) -> Int
    mutating func takeOutputs() -> [OutputRecord]
}
extension Engine: BoardSource {}
extension ShardedEngine: BoardSource {}

extension OTLPOutcomeMetricsTests.Truth {
    static let zero = Self(events: 0, commits: 0, prs: 0, lines_added: 0, lines_removed: 0, accepted_events: 0,
                           rejected_events: 0, auto_approved: 0, human_ms: 0, agent_ms: 0)

    mutating func add(_ o: OTLPOutcome) {
        events += 1
        commits += o.commits ?? 0
        prs += o.prs ?? 0
        lines_added += o.linesAdded ?? 0
        lines_removed += o.linesRemoved ?? 0
        accepted_events += o.accepted == true ? 1 : 0
        rejected_events += o.accepted == false ? 1 : 0
        auto_approved += o.editsAutoApproved ?? 0
        human_ms += o.humanActiveMs ?? 0
        agent_ms += o.agentActiveMs ?? 0
    }
}

@Suite("Only the OTLP metric mapping's events skip the per-event rules")
struct MetricKindIsNoEscapeTests {
    @Test func aNativeEventSayingKindMetricIsReadLikeAnyOther() throws {
        typealias H = DetectionHarness
        var h = DetectionHarness()
        // The kit writes `source` into the JSON as it is: this adds "kind":"metric" to every event.
        AlertLifecycleTests.beat(&h, user: "kim", from: H.monday + 8 * H.hour, hours: 10, source: #"interactive","kind":"metric"#)
        h.play()
        h.flush(advanceMs: 12 * H.hour)
        #expect(try h.alerts(rule: "machine_cadence").map(\.state) == ["firing", "resolved"])
    }
}
