import Testing
@testable import TokenwatchCore

@Suite("Rule: low_yield")
struct LowYieldRuleTests {
    typealias H = DetectionHarness

    @Test func agentLoopWithNothingToShowFires() throws {
        var h = DetectionHarness()
        var rng = TestRandom(30)
        PeerOutlierRuleTests.team(&h, rng: &rng, size: 5)
        for i in 0..<200 {  // ~1M tokens, nothing accepted
            h.schedule(UsageEvent(id: h.id(), ts: H.monday + 9 * H.hour + Int64(i) * 90_000 + Int64(rng.unit() * 60_000),
                                  user: "loop", team: "pay", input: 4_500, output: 500, prompt: "l\(i)"))
        }
        h.play()
        h.flush(advanceMs: 2 * H.hour)
        let alerts = try h.alerts(rule: "low_yield")
        #expect(alerts.filter { $0.state == "firing" }.map(\.user) == ["loop"])
        let a = try #require(alerts.first)
        #expect(a.evidence["outcomes"] == 0)
        #expect(try #require(a.evidence["tokens"]) >= 300_000)
        #expect(try #require(a.evidence["reference_median_outcomes_per_100k_tokens"]) > 0)
        #expect(a.summary.hasPrefix("loop used ") && a.summary.contains("with 0 outcomes"))
    }

    @Test func heavyUseWithOutcomesDoesNotFire() throws {
        var h = DetectionHarness()
        var rng = TestRandom(31)
        PeerOutlierRuleTests.team(&h, rng: &rng, size: 5)
        for i in 0..<200 {
            h.schedule(UsageEvent(id: h.id(), ts: H.monday + 9 * H.hour + Int64(i) * 90_000, user: "busy", team: "pay",
                                  input: 4_500, output: 500, accepted: rng.unit() < 0.35, prompt: "b\(i)"))
        }
        h.play()
        h.flush(advanceMs: 2 * H.hour)
        #expect(try h.alerts(rule: "low_yield").isEmpty)
    }

    @Test func smallTeamComparedWithEveryone() throws {
        var h = DetectionHarness()
        var rng = TestRandom(32)
        PeerOutlierRuleTests.team(&h, rng: &rng, size: 6)
        for i in 0..<200 {
            h.schedule(UsageEvent(id: h.id(), ts: H.monday + 9 * H.hour + Int64(i) * 90_000, user: "solo", team: "lab",
                                  input: 4_500, output: 500, prompt: "s\(i)"))
        }
        h.play()
        h.flush(advanceMs: 2 * H.hour)
        let a = try #require(try h.alerts(rule: "low_yield").first)
        #expect(a.user == "solo" && a.team == "lab")
        #expect(a.evidence["team_active_users"] == nil)
        #expect(a.summary.contains("the median is"))
    }
}
