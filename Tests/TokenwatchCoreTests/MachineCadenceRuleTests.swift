import Testing
@testable import TokenwatchCore

@Suite("Rule: machine_cadence")
struct MachineCadenceRuleTests {
    typealias H = DetectionHarness

    /// A script: one request every `interval` ms ± `jitter` (relative), `count` times from `start`.
    static func script(_ h: inout DetectionHarness, user: String, start: Int64, interval: Double, jitter: Double,
                       count: Int, rng: inout TestRandom) {
        var t = Double(start)
        for i in 0..<count {
            h.schedule(UsageEvent(id: h.id(), ts: Int64(t), user: user, input: 900, output: 300, prompt: "s\(i)"))
            t += interval * (1 + jitter * (2 * rng.unit() - 1))
        }
    }

    @Test func scriptOnABeatFires() throws {
        var h = DetectionHarness()
        var rng = TestRandom(4)
        Self.script(&h, user: "bob", start: H.monday + 10 * H.hour, interval: 30_000, jitter: 0.02, count: 300, rng: &rng)
        h.play()
        h.flush(advanceMs: 8 * H.hour)
        let alerts = try h.alerts(rule: "machine_cadence")
        #expect(alerts.map(\.state) == ["firing", "resolved"])
        let a = try #require(alerts.first)
        #expect(a.user == "bob")
        #expect(try #require(a.evidence["requests"]) >= 40)
        #expect(abs(try #require(a.evidence["mean_interval_ms"]) - 30_000) < 600)
        #expect(try #require(a.evidence["cv"]) <= 0.05)
        #expect(try #require(a.evidence["duration_ms"]) >= 3_600_000)
        #expect(a.summary.hasPrefix("bob sent "))
        #expect(a.summary.contains("at 30.0 s ± 0.") && a.summary.contains(" intervals for 1h"))
        // Fired once the run was an hour long, at an event time inside the run.
        #expect(a.ts >= H.monday + 11 * H.hour && a.ts < H.monday + 11 * H.hour + 5 * 60_000)
    }

    @Test func scriptAlongsideAPersonStillFires() throws {
        var h = DetectionHarness()
        var rng = TestRandom(5)
        Self.script(&h, user: "bob", start: H.monday + 9 * H.hour, interval: 120_000, jitter: 0.01, count: 200, rng: &rng)
        h.workday(user: "bob", start: H.monday + 9 * H.hour, hours: 6, requests: 90, rng: &rng)
        h.play()
        h.flush(advanceMs: 8 * H.hour)
        let a = try #require(try h.alerts(rule: "machine_cadence").first)
        #expect(try #require(a.evidence["other_requests"]) > 0)
        #expect(a.evidence["mean_interval_ms"].map { abs($0 - 120_000) < 2_400 } == true)
    }

    @Test func personAtTheSameRateIsNotAMachine() throws {
        var h = DetectionHarness()
        var rng = TestRandom(6)
        var t = Double(H.monday + 9 * H.hour)
        for i in 0..<600 {  // five hours of requests 30 s apart on average
            h.schedule(UsageEvent(id: h.id(), ts: Int64(t), user: "dee", prompt: "d\(i)"))
            t += rng.exponential(mean: 30_000)
        }
        h.play()
        h.flush(advanceMs: 8 * H.hour)
        #expect(try h.alerts(rule: "machine_cadence").isEmpty)
    }

    @Test func steadyButHumanSpreadIsNotAMachine() throws {
        // Intervals uniform in 20-40 s: regular for a person (cv 0.19), far from a script's.
        var h = DetectionHarness()
        var rng = TestRandom(7)
        var t = Double(H.monday + 9 * H.hour)
        for i in 0..<600 {
            h.schedule(UsageEvent(id: h.id(), ts: Int64(t), user: "eve", prompt: "e\(i)"))
            t += 20_000 + 20_000 * rng.unit()
        }
        h.play()
        h.flush(advanceMs: 8 * H.hour)
        #expect(try h.alerts(rule: "machine_cadence").isEmpty)
    }

    @Test func roundTheClockFires() throws {
        var h = DetectionHarness()
        var rng = TestRandom(8)
        for hour in 0..<30 {  // a few requests at random moments of every hour
            for _ in 0..<3 {
                h.schedule(UsageEvent(id: h.id(), ts: H.monday + Int64(hour) * H.hour + Int64(rng.unit() * Double(H.hour)),
                                      user: "fox", prompt: "f\(rng.next())"))
            }
        }
        h.play()
        h.flush(advanceMs: 8 * H.hour)
        let a = try #require(try h.alerts(rule: "machine_cadence").first)
        #expect(try #require(a.evidence["active_hours"]) >= 22)
        #expect(a.summary == "fox was active in \(Int(a.evidence["active_hours"]!)) of the last 24 hours")
    }

    @Test func longCrunchDayIsNotRoundTheClock() throws {
        var h = DetectionHarness()
        var rng = TestRandom(9)
        h.workday(user: "gus", start: H.monday + 6 * H.hour, hours: 16, requests: 600, rng: &rng)
        h.workday(user: "gus", start: H.monday + H.day + 8 * H.hour, hours: 10, requests: 200, rng: &rng)
        h.play()
        h.flush(advanceMs: 8 * H.hour)
        #expect(try h.alerts(rule: "machine_cadence").isEmpty)
    }
}
