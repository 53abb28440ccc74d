import Testing
@testable import TokenwatchCore

@Suite("known_users counts everyone seen within the horizon, whatever the window")
struct KnownUsersTests {
    /// Two people seen at 09:00 and 11:30 of one day: the 1h board at 12:00 has one active of two known
    /// (it had one of one while the known-users window slid by whole days).
    @Test func shortWindowsCountPeopleSeenEarlierToday() throws {
        let day0 = EngineTests.t0 / 86_400_000 * 86_400_000
        var config = EngineTests.config()
        config.windows = [WindowSpec(name: "1h", lengthMs: 3_600_000, stepMs: 60_000)]
        config.snapshotIntervalMs = 600_000
        let events = [
            TestEvent(id: "a", ts: day0 + 9 * 3_600_000, user: "early", team: "t", input: 10, output: 1),
            TestEvent(id: "b", ts: day0 + 11 * 3_600_000 + 1_800_000, user: "late", team: "t", input: 10, output: 1),
            TestEvent(id: "c", ts: day0 + 13 * 3_600_000, user: "late", team: "t", input: 10, output: 1),
        ]
        let (_, outputs) = EngineTests.run([events], config: config, interleaveSeed: 3)
        let boards = try outputs.filter { $0.kind == .leaderboard }.map(Board.init)
        let noon = try #require(boards.first { $0.scope == "global" && $0.asOf == day0 + 12 * 3_600_000 })
        #expect(noon.active == 1)
        #expect(noon.known == 2)
        #expect(Engine.knownStepMs(config.windows) == 3_600_000)
        #expect(Engine.knownStepMs([WindowSpec(name: "10m", lengthMs: 600_000, stepMs: 60_000)]) == 600_000)
    }
}
