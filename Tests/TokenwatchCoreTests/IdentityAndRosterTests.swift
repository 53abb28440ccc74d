import Foundation
import Testing
@testable import TokenwatchCore

@Suite("Identities resolve OTLP people; unattributed usage is counted per tool, never ranked")
struct IdentityTests {
    static func directory() -> IdentityDirectory {
        var d = IdentityDirectory()
        d.add(.email, "ALICE@example.com", .init(person: "alice", team: "payments"))
        d.add(.accountUUID, "uuid-bob", .init(person: "bob", team: "infra"))
        // The fixture's anonymous record (a cloud-provider login) still carries its install id.
        d.add(.installId, "install-5", .init(person: "carol", team: "ml"))
        return d
    }

    @Test func aliasesNamePeopleAndTeams() throws {
        var engine = OTLPFixture.engine(identities: Self.directory())
        let summary = engine.feedOTLP(try OTLPFixture.bytes("people.pb"), offset: 0)
        #expect(summary.counted == 6 && summary.deadLetters.isEmpty)
        let board = try engine.latestGlobalBoard(offset: 1)
        #expect(board["alice"]?.tokens == 2500 && board["alice"]?.team == "payments")
        #expect(board["bob"]?.tokens == 57 && board["bob"]?.team == "infra")
        #expect(board["carol"]?.tokens == 30 && board["carol"]?.team == "ml")
        // Unknown to the file: the record's own e-mail, as without one.
        #expect(board["dave@example.com"]?.tokens == 7)
        #expect(board["alice@example.com"] == nil && board["uuid-bob"] == nil)
        #expect(engine.ingest.attribution["claude_code"] == ToolAttribution(attributed: 6))
    }

    @Test func unresolvedUsageIsCountedOncePerToolAndNeverRanked() throws {
        var engine = OTLPFixture.engine()
        let pb = try OTLPFixture.bytes("people.pb")
        engine.feedOTLP(pb, offset: 0)
        engine.feedOTLP(try OTLPFixture.bytes("people.json"), partition: 1, offset: 0)  // the same records again
        let tally = try #require(engine.ingest.attribution["claude_code"])
        #expect(tally.unattributed == 1 && tally.unattributedTokens == 30)
        #expect(tally.attributed == 5)
        #expect(abs(tally.coverage - 5.0 / 6.0) < 1e-9)
        let board = try engine.latestGlobalBoard(partitions: [0, 1], offset: 1)
        #expect(board.count == 4)
    }

    @Test func directoryRefusesOneAliasForTwoPeople() {
        var d = IdentityDirectory()
        #expect(d.add(.github, "al", .init(person: "alice")) == nil)
        #expect(d.add(.github, "al", .init(person: "alice")) == nil)
        #expect(d.add(.github, "al", .init(person: "albert"))?.person == "alice")
        #expect(d.add(.email, "al", .init(person: "albert")) == nil)  // another kind, another alias
    }
}

@Suite("The roster is the adoption denominator")
struct RosterTests {
    static let t0: Int64 = 1_795_555_200_000

    static func boards(roster: Roster?) throws -> [Board] {
        var c = EngineConfiguration()
        c.windows = [WindowSpec(name: "1h", lengthMs: 3_600_000, stepMs: 60_000)]
        c.roster = roster
        var engine = Engine(configuration: c)
        // Roster people p0…p2 active (p0 twice), p3…p9 not; two people off the roster active.
        let active = [("p0", "a"), ("p1", "a"), ("p2", "b"), ("p0", "a"), ("stranger", "a"), ("contractor", "c")]
        for (i, (user, team)) in active.enumerated() {
            engine.feed(TestEvent(id: "e\(i)", ts: t0 + Int64(i) * 1000, user: user, team: team, input: 10, output: 1),
                        partition: 0, offset: Int64(i))
        }
        engine.feed(TestEvent(id: "clock", ts: t0 + 10 * 60_000, user: "svc-clock", team: "ops", input: 0, output: 0),
                    partition: 0, offset: 99)
        engine.emitDueSnapshots()
        let records = engine.takeOutputs().filter { $0.kind == .leaderboard }
        let last = try #require(records.last.map { try Board($0) }?.asOf)
        return try records.map(Board.init).filter { $0.asOf == last }
    }

    static func roster() -> Roster {
        var r = Roster()
        for i in 0..<10 { r.add(person: "p\(i)", team: i == 2 || i >= 7 ? "b" : "a") }
        return r
    }

    @Test func knownUsersIsTheRosterAndOnlyRosterPeopleCountAsActive() throws {
        let boards = try Self.boards(roster: Self.roster())
        let global = try #require(boards.first { $0.scope == "global" })
        #expect(global.known == 10)
        #expect(global.active == 3)
        let raw = try #require(boards.first { $0.scope == "global" }.map { $0 })
        #expect(raw.entries.count == 5, "the ranking is unchanged: off-roster people stay on the board")
        let teamA = try #require(boards.first { $0.scope == "team:a" })
        #expect(teamA.known == 6 && teamA.active == 2)
        let teamB = try #require(boards.first { $0.scope == "team:b" })
        #expect(teamB.known == 4 && teamB.active == 1)
    }

    @Test func ratiosAndOffRosterActivityInTheJSON() throws {
        var snapshot = LeaderboardSnapshot(asOf: 0, window: "1h", windowStart: 0, windowEnd: 0, scope: "global", rankBy: .tokens,
                                           entries: [], adoption: Adoption(activeUsers: 5, knownUsers: 5, effectiveActiveUsers: 5))
        let r = Self.roster()
        let tallies = ["1h": r.tally(active: [(user: "p0", effective: true), (user: "p1", effective: false), (user: "x", effective: true)])]
        snapshot = r.apply(to: [snapshot], tallies: tallies)[0]
        #expect(snapshot.adoption.activeRatio == 0.2 && snapshot.adoption.effectiveActiveRatio == 0.1)
        #expect(String(decoding: snapshot.json(), as: UTF8.self).contains(#""off_roster_active_users":1"#))
    }

    @Test func withoutARosterNothingChanges() throws {
        let global = try #require(try Self.boards(roster: nil).first { $0.scope == "global" })
        #expect(global.active == 5 && global.known == 5)
    }

    @Test func shardTalliesAddUp() {
        let r = Self.roster()
        let a = r.tally(active: [(user: "p0", effective: true), (user: "x", effective: false)])
        let b = r.tally(active: [(user: "p7", effective: false)])
        #expect(a["global"]! + b["global"]! == RosterTally(active: 2, effective: 1, offRoster: 1))
    }
}
