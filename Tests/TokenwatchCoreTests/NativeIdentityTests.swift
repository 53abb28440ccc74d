import Testing
@testable import TokenwatchCore

/// Native (`tokenwatch` format) events resolved through the identities file like OTLP ones.
@Suite("Native events: an alias in user_id is the person the identities file names")
struct NativeIdentityTests {
    static func directory() -> IdentityDirectory {
        var d = IdentityDirectory()
        d.add(.email, "Alice@Example.com", .init(person: "alice", team: "payments"))
        d.add(.github, "al-gh", .init(person: "alice", team: "payments"))
        d.add(.apiKey, "key-bob", .init(person: "bob"))
        return d
    }

    /// Events keyed by the alias they carry (as their producer keyed them), spread over two partitions.
    static func feed<E: BoardSource>(_ engine: inout E) {
        let events = [("e1", "alice@example.COM", "x"), ("e2", "al-gh", "y"), ("e3", "key-bob", "infra"), ("e4", "AL-GH", "z"),
                      ("e5", "carol", "ml"), ("e2", "al-gh", "y")]  // e2 re-sent on the other partition: counted once
        for (i, (id, user, team)) in events.enumerated() {
            let e = TestEvent(id: id, ts: OTLPFixture.t0 + Int64(i) * 1000, user: user, team: team, input: 100, output: 10)
            let p = Int32(i % 2)
            _ = Array(e.json.utf8).withUnsafeBytes { payload in
                Array(user.utf8).withUnsafeBytes { key in
                    engine.process(payload, partition: p, offset: Int64(i), receivedAtMs: 0, referenceTimeMs: nil, checkingKey: key)
                }
            }
        }
    }

    @Test func aliasesBecomePeopleOnOneEngineAndOnShards() throws {
        var config = OTLPFixture.engine(identities: Self.directory()).configuration
        config.windows = [WindowSpec(name: "1h", lengthMs: 3_600_000, stepMs: 60_000)]
        var one = Engine(configuration: config)
        one.assign(partitions: [0, 1])
        var sharded = ShardedEngine(configuration: config, shards: 3, keyedPartitions: 2)
        sharded.assign(partitions: [0, 1])
        Self.feed(&one)
        Self.feed(&sharded)
        for board in [try OTLPOutcomeMetricsTests.board(&one, partitions: [0, 1], offset: 100),
                      try OTLPOutcomeMetricsTests.board(&sharded, partitions: [0, 1], offset: 100)] {
            // alice: e1 by e-mail in another case, e2 by login (once); AL-GH is not her login (logins are exact).
            #expect(board["alice"]?.tokens == 220 && board["alice"]?.events == 2)
            #expect(board["bob"]?.tokens == 110)
            #expect(board["AL-GH"]?.tokens == 110 && board["carol"]?.tokens == 110)
            #expect(board["al-gh"] == nil && board["key-bob"] == nil && board["alice@example.COM"] == nil)
        }
    }

    @Test func theFilesTeamWinsAndWithoutAFileNothingChanges() throws {
        var engine = Engine(configuration: OTLPFixture.engine(identities: Self.directory()).configuration)
        Self.feed(&engine)
        engine.emitDueSnapshots(idle: [0, 1], quietAdvanceMs: 3_600_000)
        let teams = try engine.takeOutputs().filter { $0.kind == .leaderboard }.map(Board.init).map(\.scope)
        #expect(teams.contains("team:payments") && !teams.contains("team:x") && !teams.contains("team:y"))
        #expect(teams.contains("team:infra"))  // bob's file entry names no team: his event's own stays
        var plain = OTLPFixture.engine()
        Self.feed(&plain)
        let board = try OTLPOutcomeMetricsTests.board(&plain, partitions: [0, 1], offset: 100)
        #expect(board["al-gh"]?.tokens == 110 && board["alice"] == nil)
    }
}
