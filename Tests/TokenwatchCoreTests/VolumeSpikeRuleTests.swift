import Testing
@testable import TokenwatchCore

@Suite("Rule: volume_spike")
struct VolumeSpikeRuleTests {
    typealias H = DetectionHarness

    /// Three ordinary workdays (about 42k tokens and 9 outcomes an hour) give the user a baseline.
    static func baseline(_ h: inout DetectionHarness, user: String, rng: inout TestRandom) {
        for d in 0..<3 {
            h.workday(user: user, start: H.monday + Int64(d) * H.day + 9 * H.hour, hours: 8, requests: 160, rng: &rng)
        }
    }

    @Test func inflatedHourFiresOnceAndResolves() throws {
        var h = DetectionHarness()
        var rng = TestRandom(1)
        Self.baseline(&h, user: "ann", rng: &rng)
        let t = H.monday + 3 * H.day + 10 * H.hour
        for i in 0..<40 {
            h.schedule(UsageEvent(id: h.id(), ts: t + Int64(i) * 60_000, user: "ann", input: 30_000, output: 2_000, prompt: "q\(i)"))
        }
        h.play()
        h.flush(advanceMs: 12 * H.hour)
        let alerts = try h.alerts(rule: "volume_spike")
        #expect(alerts.map(\.state) == ["firing", "resolved"])
        let a = try #require(alerts.first)
        #expect(a.user == "ann" && a.team == "core" && a.severity == "warning")
        #expect(a.ts >= t && a.ts < t + H.hour)
        #expect(try #require(a.evidence["hour_tokens"]) >= 200_000)
        #expect(try #require(a.evidence["ratio"]) >= 6)
        #expect(a.evidence["hour_start"] == Double(t))
        #expect(try #require(a.evidence["hour_outcomes"]) < 0.35 * (try #require(a.evidence["expected_outcomes"])))
        #expect(a.score >= 0.5 && a.score <= 1)
        #expect(a.summary.hasPrefix("ann used "))
        #expect(a.summary.contains("their usual"))
        #expect(alerts[1].id == a.id)
        // Resolved once quiet for the 6h cooldown after the last inflated minute (10:39).
        #expect(alerts[1].ts >= t + 40 * 60_000 + 6 * H.hour && alerts[1].ts <= t + 42 * 60_000 + 6 * H.hour)
    }

    @Test func crunchWithAcceptedWorkDoesNotFire() throws {
        var h = DetectionHarness()
        var rng = TestRandom(2)
        Self.baseline(&h, user: "bea", rng: &rng)
        // A 14-hour crunch: four times the requests, twice the size, most of it accepted.
        h.workday(user: "bea", start: H.monday + 3 * H.day + 7 * H.hour, hours: 14, requests: 14 * 80,
                  input: 2_500...5_500, acceptRate: 0.6, rng: &rng)
        h.play()
        h.flush(advanceMs: 12 * H.hour)
        #expect(try h.alerts(rule: "volume_spike").isEmpty)
    }

    @Test func noBaselineNoVerdict() throws {
        var h = DetectionHarness()
        let t = H.monday + 10 * H.hour
        for i in 0..<40 {
            h.schedule(UsageEvent(id: h.id(), ts: t + Int64(i) * 60_000, user: "new", input: 30_000, output: 2_000, prompt: "q\(i)"))
        }
        h.play()
        h.flush(advanceMs: 12 * H.hour)
        #expect(try h.alerts(rule: "volume_spike").isEmpty)
    }

    @Test func floorHoldsForLightUsers() throws {
        // Ten times a tiny baseline is still below min_tokens.
        var h = DetectionHarness()
        var rng = TestRandom(3)
        for d in 0..<3 {
            h.workday(user: "cy", start: H.monday + Int64(d) * H.day + 9 * H.hour, hours: 8, requests: 16, input: 100...300, rng: &rng)
        }
        let t = H.monday + 3 * H.day + 10 * H.hour
        for i in 0..<30 {
            h.schedule(UsageEvent(id: h.id(), ts: t + Int64(i) * 60_000, user: "cy", input: 3_000, output: 500, prompt: "q\(i)"))
        }
        h.play()
        h.flush(advanceMs: 12 * H.hour)
        #expect(try h.alerts(rule: "volume_spike").isEmpty)
    }
}
