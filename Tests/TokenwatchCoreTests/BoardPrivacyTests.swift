import Foundation
import Testing
@testable import TokenwatchCore

@Suite("Privacy: minimum group size with complementary suppression, pseudonyms")
struct BoardPrivacyTests {
    /// A team of 4 among teams of 6 and 12: with min_group_size 5 no board of the team of 4 is published,
    /// and its members' figures cannot be had by subtracting the published teams from the global ones.
    @Test func smallTeamIsNotPublishedNorDerivable() throws {
        let t0 = EngineTests.t0
        var events: [TestEvent] = []
        let teams = [("tiny", 4), ("mid", 6), ("big", 12)]
        var n = 0
        for (team, size) in teams {
            for m in 0..<size {
                for k in 0..<3 {
                    n += 1
                    events.append(TestEvent(id: "e\(n)", ts: t0 + Int64(k * 60_000 + m * 1_000), user: "\(team)-\(m)", team: team,
                                            input: Int64(1_000 * (m + 1)), output: 10))
                }
            }
        }
        events.sort { $0.ts < $1.ts }
        // A late event per partition moves the watermark past the first snapshots.
        events.append(TestEvent(id: "end", ts: t0 + 3_600_000, user: "big-0", team: "big", input: 1, output: 1))
        var config = EngineTests.config(topK: 25)
        config.privacy = PrivacyConfiguration(minGroupSize: 5)
        let (_, outputs) = EngineTests.run([events], config: config, interleaveSeed: 1)
        let boards = try outputs.filter { $0.kind == .leaderboard }.map(Board.init)
        #expect(!boards.isEmpty)
        #expect(boards.allSatisfy { $0.scope != "team:tiny" }, "a board of the team of 4 was published")
        // Complementary: the team of 6 is withheld too, or global − published teams would be the team of 4.
        #expect(boards.allSatisfy { $0.scope != "team:mid" })
        #expect(boards.contains { $0.scope == "team:big" })
        for (asOf, window) in Set(boards.map { "\($0.asOf)|\($0.window)" }).map({ ($0.split(separator: "|")[0], $0.split(separator: "|")[1]) }) {
            let same = boards.filter { "\($0.asOf)" == asOf && $0.window == window }
            let global = try #require(same.first { $0.scope == "global" })
            let published = same.filter { $0.scope.hasPrefix("team:") }
            let rest = (known: global.known - published.map(\.known).reduce(0, +), active: global.active - published.map(\.active).reduce(0, +))
            #expect(rest.known == 0 || rest.known >= 5, "global minus published teams leaves a group of \(rest.known)")
            // On the boards that are published, no entry is attributed to a withheld team.
            #expect(same.flatMap(\.entries).allSatisfy { $0.team != "tiny" && $0.team != "mid" })
            #expect(global.entries.filter { $0.user.hasPrefix("tiny-") }.allSatisfy { $0.team == BoardPrivacy.withheldTeam })
        }
        // They stay on the global board, which ranks people.
        #expect(boards.contains { $0.scope == "global" && $0.entries.contains { $0.user.hasPrefix("tiny-") } })
    }

    @Test func suppressionPicksTheSmallestTeamsUntilTheGroupIsLargeEnough() {
        func board(_ team: String, known: Int) -> LeaderboardSnapshot {
            LeaderboardSnapshot(asOf: 0, window: "1h", windowStart: 0, windowEnd: 0, scope: "team:" + team, rankBy: .tokens,
                                entries: [], adoption: Adoption(activeUsers: known, knownUsers: known, effectiveActiveUsers: known))
        }
        let boards = [board("a", known: 4), board("b", known: 3), board("c", known: 10), board("d", known: 6)]
        #expect(BoardPrivacy.suppressedTeams(boards, minGroupSize: 5) == ["a", "b"])  // 7 together: enough
        #expect(BoardPrivacy.suppressedTeams([board("a", known: 4), board("c", known: 10), board("d", known: 6)],
                                             minGroupSize: 5) == ["a", "d"])
        #expect(BoardPrivacy.suppressedTeams(boards, minGroupSize: 3) == [])
        #expect(BoardPrivacy.apply(boards, PrivacyConfiguration()) == boards)  // off by default in the core
    }

    @Test func aPseudonymResolvesOnlyWhenAsked() {
        let key = Array("0123456789abcdef".utf8)
        var config = EngineTests.config()
        config.privacy = PrivacyConfiguration(pseudonymKey: key)
        var engine = Engine(configuration: config)
        engine.assign(partitions: [0])
        engine.feed(TestEvent(id: "a", ts: EngineTests.t0, user: "carol", team: "t", input: 5, output: 5), partition: 0, offset: 0)
        let p = BoardPrivacy.pseudonym("carol", key: key)
        #expect(engine.person(ofPseudonym: p) == "carol")
        #expect(engine.explain(p, resolvingPseudonym: true)?.summary.userId == "carol")
        #expect(engine.explain(p) == nil)
        #expect(engine.person(ofPseudonym: "p-0000000000000000") == nil)
    }

    @Test func pseudonymsAreKeyedHashes() {
        // RFC 4231, test case 2.
        let mac = BoardPrivacy.hmac(key: Array("Jefe".utf8), message: Array("what do ya want for nothing?".utf8))
        #expect(SHA256.hex(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        let key = Array("0123456789abcdef".utf8)
        let p = BoardPrivacy.pseudonym("alice", key: key)
        #expect(p.hasPrefix("p-") && p.count == 18 && p == BoardPrivacy.pseudonym("alice", key: key))
        #expect(p != BoardPrivacy.pseudonym("alice", key: Array("another key 0123".utf8)))
        let entry = LeaderboardEntry(rank: 1, userId: "alice", team: "x", tokens: 1, events: 1, outcomes: 0, effectiveTokens: 1,
                                     suspicion: 0, flags: [])
        let board = LeaderboardSnapshot(asOf: 0, window: "1h", windowStart: 0, windowEnd: 0, scope: "global", rankBy: .tokens,
                                        entries: [entry], adoption: Adoption(activeUsers: 1, knownUsers: 1, effectiveActiveUsers: 1))
        #expect(BoardPrivacy.apply([board], PrivacyConfiguration(pseudonymKey: key)).first?.entries.first?.userId == p)
    }
}
