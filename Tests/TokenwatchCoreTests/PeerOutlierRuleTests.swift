import Testing
@testable import TokenwatchCore

@Suite("Rule: peer_outlier")
struct PeerOutlierRuleTests {
    typealias H = DetectionHarness

    /// A team of eight ordinary users (about 200k tokens a day each, 40% accepted) plus whoever the test adds.
    static func team(_ h: inout DetectionHarness, rng: inout TestRandom, team: String = "pay", size: Int = 8) {
        for u in 0..<size {
            h.workday(user: "\(team)\(u)", team: team, start: H.monday + 9 * H.hour, hours: 8, requests: 100, rng: &rng)
        }
    }

    @Test func heavyUserWithoutMatchingOutcomesFires() throws {
        var h = DetectionHarness()
        var rng = TestRandom(20)
        Self.team(&h, rng: &rng)
        // 2.5M tokens with about a sixth of the team's outcomes per token.
        h.workday(user: "max", team: "pay", start: H.monday + 9 * H.hour, hours: 8, requests: 100,
                  input: 20_000...30_000, acceptRate: 0.8, rng: &rng)
        h.play()
        h.flush(advanceMs: 2 * H.hour)
        let alerts = try h.alerts(rule: "peer_outlier")
        let a = try #require(alerts.first)
        #expect(alerts.allSatisfy { $0.user == "max" })
        #expect(alerts.filter { $0.state == "firing" }.count == 1)
        #expect(a.team == "pay")
        #expect(a.ts % H.hour == 0)  // evaluated at an hourly boundary
        #expect(try #require(a.evidence["ratio_to_median"]) >= 4)
        #expect(try #require(a.evidence["robust_z"]) >= 5)
        #expect(try #require(a.evidence["outcomes_per_100k_tokens"]) < 0.25 * (try #require(a.evidence["team_median_outcomes_per_100k_tokens"])))
        #expect(a.evidence["team_active_users"] == 9)
        #expect(a.summary.hasPrefix("max used ") && a.summary.contains("the median of team pay"))
    }

    @Test func productivePowerUserDoesNotFire() throws {
        var h = DetectionHarness()
        var rng = TestRandom(21)
        Self.team(&h, rng: &rng)
        // Same volume, but the outcomes grow with it (accepted work and commits).
        for i in 0..<250 {
            h.schedule(UsageEvent(id: h.id(), ts: H.monday + 9 * H.hour + Int64(i) * 100_000, user: "pat", team: "pay",
                                  input: 9_000, output: 1_000, accepted: true, commits: 1, prompt: "pp\(i)"))
        }
        h.play()
        h.flush(advanceMs: 2 * H.hour)
        #expect(try h.alerts(rule: "peer_outlier").isEmpty)
    }

    @Test func smallTeamsAreNotCompared() throws {
        var h = DetectionHarness()
        var rng = TestRandom(22)
        Self.team(&h, rng: &rng, team: "tiny", size: 3)
        h.workday(user: "max", team: "tiny", start: H.monday + 9 * H.hour, hours: 8, requests: 100,
                  input: 20_000...30_000, acceptRate: 1, rng: &rng)
        h.play()
        h.flush(advanceMs: 2 * H.hour)
        #expect(try h.alerts(rule: "peer_outlier").isEmpty)
    }
}
