import Testing
@testable import TokenwatchCore

/// `hollow_outcomes`: each pattern against its nearest legitimate look-alike.
@Suite("Rules: hollow_outcomes")
struct HollowOutcomesRuleTests {
    typealias H = DetectionHarness

    /// Ordinary workdays (about 12k tokens an hour, 40% accepted with lines) from Monday.
    static func history(_ h: inout DetectionHarness, user: String, days: Int = 2, rng: inout TestRandom) {
        for d in 0..<days {
            var times = (0..<50).map { _ in H.monday + Int64(d) * H.day + 9 * H.hour + Int64(rng.unit() * 8 * Double(H.hour)) }
            times.sort()
            for t in times {
                let accepted = rng.unit() < 0.4
                h.schedule(UsageEvent(id: h.id(), ts: t, user: user, input: rng.int(800...2_400), output: rng.int(200...700),
                                      accepted: accepted, commits: accepted && rng.unit() < 0.1 ? 1 : 0,
                                      prompt: "p\(rng.next())", lines: accepted ? rng.int(1...60) : 0))
            }
        }
    }

    /// An agent loop of `hours` from `start`, a step every 20 s; `accept` of the steps accepted with `lines` each.
    static func loop(_ h: inout DetectionHarness, user: String, start: Int64, hours: Int64, accept: Double,
                     lines: ClosedRange<Int64>, commitRate: Double = 0, reports: Bool = true, rng: inout TestRandom) {
        var t = start
        while t < start + hours * H.hour {
            let accepted = rng.unit() < accept
            h.schedule(UsageEvent(id: h.id(), ts: t, user: user, input: rng.int(5_000...7_000), output: 500, accepted: accepted,
                                  commits: accepted && rng.unit() < commitRate ? 1 : 0, prompt: "s\(rng.next())",
                                  lines: accepted ? rng.int(lines) : 0, reportsOutcome: reports))
            t += 20_000
        }
    }

    static var day3: Int64 { H.monday + 2 * H.day }

    @Test func acceptedStepsWithoutCodeFire() throws {
        var h = DetectionHarness()
        var rng = TestRandom(1)
        Self.history(&h, user: "fay", rng: &rng)
        Self.loop(&h, user: "fay", start: Self.day3 + 10 * H.hour, hours: 1, accept: 0.8, lines: 1...1, rng: &rng)
        h.play()
        h.flush(advanceMs: H.hour)
        let a = try #require(try h.alerts(rule: "hollow_outcomes").first)
        #expect(a.user == "fay" && a.state == "firing" && a.severity == "warning")
        #expect(a.ts >= Self.day3 + 10 * H.hour && a.ts < Self.day3 + 11 * H.hour)
        #expect(a.evidence["lines_per_accept"] == 1)
        #expect(a.summary.contains("at 1.0 lines each and no commit or PR"))
    }

    @Test func agentRunWithRealCodeDoesNotFire() throws {
        var h = DetectionHarness()
        var rng = TestRandom(2)
        Self.history(&h, user: "pat", rng: &rng)
        Self.loop(&h, user: "pat", start: Self.day3 + 10 * H.hour, hours: 1, accept: 0.8, lines: 1...80, commitRate: 0.15, rng: &rng)
        h.play()
        h.flush(advanceMs: H.hour)
        #expect(try h.alerts(rule: "hollow_outcomes").isEmpty)
    }

    @Test func repeatedHeavyHoursBelowTheUsersOwnRateFire() throws {
        var h = DetectionHarness()
        var rng = TestRandom(3)
        Self.history(&h, user: "hal", rng: &rng)
        Self.loop(&h, user: "hal", start: Self.day3 + 10 * H.hour, hours: 3, accept: 0.005, lines: 1...40, rng: &rng)
        h.play()
        h.flush(advanceMs: H.hour)
        let a = try #require(try h.alerts(rule: "hollow_outcomes").first)
        // The third hollow hour fires it.
        #expect(a.ts >= Self.day3 + 12 * H.hour && a.ts < Self.day3 + 13 * H.hour)
        #expect(a.evidence["hollow_hours"] == 3)
        #expect(try #require(a.evidence["expected_outcomes_at_own_rate"]) > 20)
    }

    @Test func heavyNightWithOutcomesInLineDoesNotFire() throws {
        // An incident night: three heavy hours at 1–4 am, accepted at the user's usual rate.
        var h = DetectionHarness()
        var rng = TestRandom(4)
        Self.history(&h, user: "ivy", rng: &rng)
        var t = Self.day3 + 1 * H.hour
        while t < Self.day3 + 4 * H.hour {
            let accepted = rng.unit() < 0.5
            h.schedule(UsageEvent(id: h.id(), ts: t, user: "ivy", input: rng.int(3_000...5_000), output: 600, accepted: accepted,
                                  prompt: "n\(rng.next())", lines: accepted ? rng.int(1...60) : 0))
            t += 30_000
        }
        h.play()
        h.flush(advanceMs: H.hour)
        #expect(try h.alerts(rule: "hollow_outcomes").isEmpty)
        #expect(try h.alerts(rule: "volume_spike").isEmpty)
    }

    @Test func newUserWithoutHistoryIsNotJudged() throws {
        var h = DetectionHarness()
        var rng = TestRandom(5)
        Self.loop(&h, user: "neo", start: Self.day3 + 10 * H.hour, hours: 3, accept: 0.005, lines: 1...40, rng: &rng)
        h.play()
        h.flush(advanceMs: H.hour)
        #expect(try h.alerts(rule: "hollow_outcomes").isEmpty)
    }

    @Test func hoursWithoutReportedOutcomesAreUnknownNotHollow() throws {
        var h = DetectionHarness()
        var rng = TestRandom(6)
        Self.history(&h, user: "rea", rng: &rng)
        Self.loop(&h, user: "rea", start: Self.day3 + 10 * H.hour, hours: 3, accept: 0, lines: 1...1, reports: false, rng: &rng)
        h.play()
        h.flush(advanceMs: H.hour)
        #expect(try h.alerts(rule: "hollow_outcomes").isEmpty)
    }
}
