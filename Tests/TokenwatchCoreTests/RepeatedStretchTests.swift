import Testing
@testable import TokenwatchCore

/// `machine_cadence`'s repeated stretch: long, busy, memoryless stretches without a break, day after day.
@Suite("Rules: machine_cadence repeated unbroken stretches")
struct RepeatedStretchTests {
    typealias H = DetectionHarness

    /// Requests with exponential gaps (mean 2 min) for `hours` from 08:00 on `day`, 40% accepted:
    /// a good yield, so only the repetition can give the stretch away.
    static func memoryless(_ h: inout DetectionHarness, user: String, day: Int64, hours: Double, rng: inout TestRandom) {
        var t = H.monday + day * H.day + 8 * H.hour
        let end = t + Int64(hours * Double(H.hour))
        while t < end {
            let accepted = rng.unit() < 0.4
            h.schedule(UsageEvent(id: h.id(), ts: t, user: user, input: rng.int(800...2_400), accepted: accepted,
                                  commits: accepted ? 1 : 0, prompt: "p\(rng.next() % 1_000_000)"))
            t += Int64(max(1_000, rng.exponential(mean: 120_000)))
        }
    }

    @Test func theSameUnbrokenMemorylessStretchOnThreeDaysFires() throws {
        var h = DetectionHarness()
        var rng = TestRandom(3)
        for day in [0, 1, 2] as [Int64] { Self.memoryless(&h, user: "rob", day: day, hours: 6, rng: &rng) }
        h.play()
        h.flush(advanceMs: 12 * H.hour)
        let fired = try h.alerts(rule: "machine_cadence").filter { $0.state == "firing" }
        let first = try #require(fired.first)
        #expect(first.ts >= H.monday + 2 * H.day + 13 * H.hour)  // on the third day, once 5 h unbroken
        #expect(first.summary.contains("worked such unbroken stretches on 3 of the last 7 days"))
        #expect(first.evidence["days_with_stretch"] == 3)
    }

    @Test func oneLongUnbrokenDayIsACrunchNotAScript() throws {
        // The look-alike: the same long memoryless day once, and ordinary shorter days around it.
        var h = DetectionHarness()
        var rng = TestRandom(4)
        Self.memoryless(&h, user: "cy", day: 0, hours: 9, rng: &rng)
        for day in [1, 2, 3] as [Int64] { Self.memoryless(&h, user: "cy", day: day, hours: 3, rng: &rng) }
        h.play()
        h.flush(advanceMs: 12 * H.hour)
        #expect(try h.alerts(rule: "machine_cadence").isEmpty)
    }

    @Test func daysAreCountedWithinTheLastWeek() {
        var s = UserSignals()
        #expect(MachineCadenceRule.markStretchDay(&s, day: 100) == 1)
        #expect(MachineCadenceRule.markStretchDay(&s, day: 100) == 1)
        #expect(MachineCadenceRule.markStretchDay(&s, day: 103) == 2)
        #expect(MachineCadenceRule.markStretchDay(&s, day: 106) == 3)
        #expect(MachineCadenceRule.markStretchDay(&s, day: 107) == 3)  // day 100 is now 7 days back
        #expect(MachineCadenceRule.markStretchDay(&s, day: 120) == 1)
    }
}
