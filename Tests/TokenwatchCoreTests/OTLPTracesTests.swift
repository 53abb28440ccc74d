import Foundation
import Testing
@testable import TokenwatchCore

/// GenAI semantic-convention spans made by the OpenTelemetry Python SDK (Tests/Fixtures/otlp/make_span_fixtures.py).
@Suite("OTLP traces: GenAI spans become usage events, once per span")
struct OTLPTracesTests {
    struct Span: Decodable {
        var id: String, user: String?, team: String, tool: String, ts: Int64, input: Int64, output: Int64
    }

    struct Expected: Decodable {
        var requests: Int
        var spans: [Span]
    }

    static func expected() throws -> Expected {
        try JSONDecoder().decode(Expected.self, from: Data(OTLPFixture.bytes("spans/expected.json")))
    }

    static func request(_ i: Int, _ ext: String) throws -> [UInt8] {
        try OTLPFixture.bytes(String(format: "spans/%02d.%@", i, ext))
    }

    static func decode(_ bytes: [UInt8]) throws(OTLPError) -> OTLPLogBatch {
        try bytes.withUnsafeBytes { raw in Result { () throws(OTLPError) in try OTLPTraces.decode(raw) } }.get()
    }

    @Test func protobufAndJSONGiveTheSameEventsAsTheSDKWrote() throws {
        let want = try Self.expected()
        var seen: [String: OTLPEvent] = [:]
        var unattributed: Set<String> = []
        for i in 0..<want.requests {
            let pb = try Self.decode(Self.request(i, "pb")), json = try Self.decode(Self.request(i, "json"))
            #expect(pb == json)
            #expect(pb.signalCheck)
            for e in pb.events { seen[e.eventId] = e }
            for r in pb.rejected {
                #expect(r.reason == .noIdentity)
                unattributed.insert(r.event.eventId)
            }
        }
        let attributed = want.spans.filter { $0.user != nil }
        #expect(seen.count == attributed.count)
        #expect(unattributed.count == want.spans.count - attributed.count)
        for s in attributed {
            let e = try #require(seen[s.id])
            #expect(e.userId == s.user && e.team == s.team && e.tool == s.tool && e.timestampMs == s.ts)
            #expect(e.inputTokens == s.input && e.outputTokens == s.output && e.model == "gpt-4o-2024-08-06")
        }
    }

    /// The board equals a brute-force sum over the SDK's chat spans; agent and tool spans add nothing;
    /// a re-sent request and the JSON copies on another partition count once; nobody's spans are unattributed.
    @Test func theBoardIsTheBruteForceSumOnOneEngineAndOnShards() throws {
        let want = try Self.expected()
        var truth: [String: (tokens: Int64, events: Int64)] = [:]
        for s in want.spans { if let u = s.user { truth[u, default: (0, 0)].tokens += s.input + s.output; truth[u]!.events += 1 } }
        let anonymous = want.spans.filter { $0.user == nil }.count

        var one = OTLPFixture.engine()
        var sharded = ShardedEngine(configuration: one.configuration, shards: 3, keyedPartitions: 4)
        sharded.assign(partitions: [0, 1, 2, 3])
        for i in 0..<want.requests {
            for (p, ext) in [(Int32(0), "pb"), (Int32(1), "json")] {
                let bytes = try Self.request(i, ext)
                one.feedOTLP(bytes, partition: p, offset: Int64(i))
                let q = Int32((i + Int(p)) % 4), shard = sharded.shard(ofPartition: q)
                sharded.withShardAccess { a in a.withShard(shard) { _ = $0.feedOTLP(bytes, partition: q, offset: Int64(i * 2) + Int64(p)) } }
            }
        }
        let boards = [try OTLPOutcomeMetricsTests.board(&one, partitions: [0, 1], offset: 100),
                      try OTLPOutcomeMetricsTests.board(&sharded, partitions: [0, 1, 2, 3], offset: 100)]
        for board in boards {
            #expect(board.count == truth.count)
            for (user, t) in truth { #expect(board[user]?.tokens == t.tokens && board[user]?.events == t.events, "\(user)") }
        }
        #expect(one.ingest.attribution["copilot-chat"]?.unattributed == anonymous)
        #expect(sharded.attribution["copilot-chat"]?.unattributed == anonymous)
    }

    @Test func theIdentitiesFileResolvesAnIdPSubject() throws {
        var d = IdentityDirectory()
        d.add(.idpSubject, "idp|frank", .init(person: "frank", team: "platform"))
        var engine = OTLPFixture.engine(identities: d)
        engine.feedOTLP(try Self.request(0, "pb"), offset: 0)
        let board = try OTLPOutcomeMetricsTests.board(&engine, partitions: [0], offset: 1)
        #expect(board["frank"] != nil && board["idp|frank"] == nil)
    }

    @Test func malformedTracesAreRefusedWholeNeverACrash() throws {
        let bytes = try Self.request(1, "pb")
        for n in 0..<bytes.count { _ = try? Self.decode(Array(bytes.prefix(n))) }
        // A span (ExportTraceServiceRequest → ResourceSpans → ScopeSpans → Span) whose trace_id is a varint.
        var w = ProtobufWriter()
        w.message(1) { rs in rs.message(2) { ss in ss.message(2) { span in span.tag(1, 0); span.varint(7) } } }
        #expect(throws: OTLPError.wrongWireType) { try Self.decode(w.bytes) }
        // A span id of 3 bytes.
        w = ProtobufWriter()
        w.message(1) { rs in rs.message(2) { ss in ss.message(2) { span in span.string(2, "abc"); span.fixed64(7, 1) } } }
        #expect(throws: OTLPError.malformed) { try Self.decode(w.bytes) }
        let badHex = #"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz","spanId":"00"}]}]}]}"#
        #expect(throws: OTLPError.malformed) { try Self.decode(Array(badHex.utf8)) }
        var engine = OTLPFixture.engine()
        #expect(engine.feedOTLP(Array(#"{"resourceSpans":[]}"#.utf8), offset: 0).deadLetters == [.otlp(.emptyBatch)])
        #expect(engine.feedOTLP(Array(bytes.prefix(bytes.count - 3)), offset: 1).deadLetters == [.otlp(.truncated)])
        #expect(engine.feedOTLP(bytes, offset: 2).counted > 0)
    }

    @Test func aSpanWithoutItsTokensOrIdsIsDeadLetteredAlone() throws {
        var w = ProtobufWriter()
        w.message(1) { rs in
            rs.message(1) { r in r.message(1) { kv in kv.string(1, "user.email"); kv.message(2) { $0.string(1, "a@x") } } }
            rs.message(2) { ss in
                ss.message(2) { span in
                    span.string(1, String(repeating: "t", count: 16)); span.string(2, "spanid-1"); span.fixed64(7, 1_795_555_200_000_000_000)
                    span.message(9) { kv in kv.string(1, "gen_ai.usage.input_tokens"); kv.message(2) { $0.tag(3, 0); $0.varint(5) } }
                }
            }
        }
        let batch = try Self.decode(w.bytes)
        #expect(batch.rejected.map(\.reason) == [.missingAttribute("gen_ai.usage.output_tokens")])
    }
}

extension OTLPLogBatch {
    /// Every span is either skipped, an event or rejected.
    var signalCheck: Bool { recordCount == skippedCount + events.count + rejected.count }
}

@Suite("Unattributed usage on the board: adoption.unattributed_events per tool, the same for any thread count")
struct UnattributedOnTheBoardTests {
    /// Every leaderboard record of the span fixtures (protobuf on one partition, JSON copies on another),
    /// fed to an engine of `shards` shards, restarted from its checkpoint half-way when `restart`.
    static func boards(shards: Int, restart: Bool = false) throws -> [OutputRecord] {
        let n = try OTLPTracesTests.expected().requests
        var engine = ShardedEngine(configuration: OTLPFixture.engine().configuration, shards: shards, keyedPartitions: 2)
        engine.assign(partitions: [0, 1])
        var out: [OutputRecord] = []
        for i in 0..<n {
            for (p, ext) in [(Int32(0), "pb"), (Int32(1), "json")] {
                let bytes = try OTLPTracesTests.request(i, ext), shard = engine.shard(ofPartition: p)
                engine.withShardAccess { a in a.withShard(shard) { _ = $0.feedOTLP(bytes, partition: p, offset: Int64(i)) } }
            }
            engine.emitDueSnapshots()
            out += engine.takeOutputs()
            if restart && i == n / 2 {
                engine = try ShardedEngine(configuration: engine.configuration, shards: shards, keyedPartitions: 2,
                                           restoring: engine.checkpoint())
            }
        }
        for p: Int32 in [0, 1] {
            let clock = TestEvent(id: "clock-\(p)", ts: OTLPFixture.t0 + 15 * 60_000, user: "svc-clock", team: "ops", input: 0, output: 0)
            _ = Array(clock.json.utf8).withUnsafeBytes { engine.process($0, partition: p, offset: 100) }
        }
        engine.emitDueSnapshots()
        out += engine.takeOutputs()
        return out.filter { $0.kind == .leaderboard }
    }

    @Test func theCountsAreOnTheGlobalBoardsAndIdenticalAcrossShardsAndRestarts() throws {
        let one = try Self.boards(shards: 1)
        #expect(try Self.boards(shards: 3) == one)
        #expect(try Self.boards(shards: 2, restart: true) == one)
        let anonymous = try OTLPTracesTests.expected().spans.filter { $0.user == nil }.count
        let last = try #require(one.last { String(decoding: $0.key ?? [], as: UTF8.self) == "1h|global" })
        let json = try #require(try JSONSerialization.jsonObject(with: Data(last.value)) as? [String: Any])
        let adoption = try #require(json["adoption"] as? [String: Any])
        #expect((adoption["unattributed_events"] as? [String: Int]) == ["copilot-chat": anonymous])
        // Team boards carry none; the unattributed are never ranked.
        #expect(one.filter { String(decoding: $0.key ?? [], as: UTF8.self).contains("team:") }
                   .allSatisfy { !String(decoding: $0.value, as: UTF8.self).contains("unattributed_events") })
        #expect(!String(decoding: last.value, as: UTF8.self).contains("\"user_id\":null"))
    }
}

@Suite("OTLP metrics and traces readers: truncations and mutations are errors, never crashes")
struct OTLPMetricsAndTracesFuzzTests {
    static func inputs() throws -> [[UInt8]] {
        try [OTLPTracesTests.request(1, "pb"), OTLPTracesTests.request(1, "json"),
             OTLPFixture.bytes("outcomes/00.pb"), OTLPFixture.bytes("outcomes/00.json")]
    }

    @Test func everyTruncationAndThousandsOfMutations() throws {
        var engine = OTLPFixture.engine()
        var offset: Int64 = 0
        var rng = SplitMix64(seed: 11)
        for input in try Self.inputs() {
            for n in stride(from: 0, to: input.count, by: max(1, input.count / 300)) {
                engine.feedOTLP(Array(input.prefix(n)), offset: offset); offset += 1
            }
            for _ in 0..<500 {
                var m = input
                for _ in 0..<(1 + Int(rng.next() % 4)) { m[Int(rng.next() % UInt64(m.count))] = UInt8(truncatingIfNeeded: rng.next()) }
                let summary = engine.feedOTLP(m, offset: offset); offset += 1
                #expect(summary.counted + summary.duplicates + summary.deadLetters.count + summary.skipped + summary.service > 0)
            }
        }
    }
}
