import Testing
@testable import TokenwatchCore

@Suite("Rules: leaderboard_sprint and mandate_minimum")
struct WeeklyRuleTests {
    typealias H = DetectionHarness
    static let cutoff = H.monday + 7 * H.day

    /// Monday to Friday, about 100k tokens a day.
    static func week(_ h: inout DetectionHarness, user: String, rng: inout TestRandom) {
        for d in 0..<5 {
            h.workday(user: user, start: H.monday + Int64(d) * H.day + 9 * H.hour, hours: 8, requests: 50, rng: &rng)
        }
    }

    static func sunday(_ h: inout DetectionHarness, user: String, acceptRate: Double, rng: inout TestRandom) {
        h.workday(user: user, start: cutoff - 14 * H.hour, hours: 12, requests: 100, input: 8_000...11_000,
                  acceptRate: acceptRate, rng: &rng)
    }

    @Test func sprintBeforeTheCutoffFires() throws {
        var h = DetectionHarness()
        var rng = TestRandom(40)
        Self.week(&h, user: "sam", rng: &rng)
        Self.sunday(&h, user: "sam", acceptRate: 0, rng: &rng)
        h.play()
        h.flush(advanceMs: 12 * H.hour)
        let alerts = try h.alerts(rule: "leaderboard_sprint")
        let a = try #require(alerts.first)
        #expect(alerts.count == 1 && a.state == "firing" && a.user == "sam")
        #expect(a.ts == Self.cutoff)
        #expect(a.evidence["cutoff"] == Double(Self.cutoff))
        #expect(try #require(a.evidence["share"]) >= 0.5)
        #expect(a.evidence["window_outcomes_per_100k_tokens"] == 0)
        #expect(a.summary.contains("before the Mon 00:00 UTC cutoff"))
        // The board read at the cutoff already carries the flag and discounts the tokens.
        let board = try h.latestBoard(window: "24h")
        let entry = try #require(board.entries["sam"])
        #expect(entry.flags == ["leaderboard_sprint"])
        #expect(entry.suspicion >= 0.7 && entry.effective < entry.tokens)
    }

    @Test func deadlineMetWithAcceptedWorkDoesNotFire() throws {
        var h = DetectionHarness()
        var rng = TestRandom(41)
        Self.week(&h, user: "tia", rng: &rng)
        // The same share of the week before the cutoff, but ordinary requests with ordinary outcomes.
        h.workday(user: "tia", start: Self.cutoff - 14 * H.hour, hours: 12, requests: 400, rng: &rng)
        h.play()
        h.flush(advanceMs: 12 * H.hour)
        #expect(try h.alerts(rule: "leaderboard_sprint").isEmpty)
        let book = h.engine.detector
        #expect(book.weeks.isEmpty && book.lastCutoffEvaluated == Self.cutoff)
    }

    @Test func cutoffFollowsTheConfiguration() throws {
        // Friday 17:00: a sprint on Friday counts, the same Sunday burst would not.
        var h = DetectionHarness(DetectionHarness.configuration { $0.weeklyCutoffOffsetMs = 4 * H.day + 17 * H.hour })
        var rng = TestRandom(42)
        for d in 0..<4 {
            h.workday(user: "uma", start: H.monday + Int64(d) * H.day + 9 * H.hour, hours: 8, requests: 50, rng: &rng)
        }
        let friday = H.monday + 4 * H.day + 17 * H.hour
        h.workday(user: "uma", start: friday - 8 * H.hour, hours: 8, requests: 100, input: 8_000...11_000, acceptRate: 0, rng: &rng)
        h.play()
        h.flush(advanceMs: 12 * H.hour)
        let a = try #require(try h.alerts(rule: "leaderboard_sprint").first)
        #expect(a.ts == friday)
        #expect(a.summary.contains("before the Fri 17:00 UTC cutoff"))
    }

    @Test func trivialWeekIsFlaggedAsInfoAndNotCountedAsReal() throws {
        var h = DetectionHarness()
        var rng = TestRandom(43)
        Self.week(&h, user: "val", rng: &rng)
        h.workday(user: "val", start: Self.cutoff - 10 * H.hour, hours: 4, requests: 10, rng: &rng)
        h.schedule(UsageEvent(id: h.id(), ts: Self.cutoff - 6 * H.hour, user: "pad", input: 120, output: 60, prompt: "hi"))
        h.schedule(UsageEvent(id: h.id(), ts: Self.cutoff - 5 * H.hour, user: "pad", input: 90, output: 40, prompt: "hello"))
        h.play()
        h.flush(advanceMs: 12 * H.hour)
        let alerts = try h.alerts(rule: "mandate_minimum")
        let a = try #require(alerts.first)
        #expect(alerts.count == 1 && a.user == "pad" && a.severity == "info" && a.ts == Self.cutoff)
        #expect(a.evidence["requests"] == 2 && a.evidence["tokens"] == 310)
        #expect(a.summary == "pad counted as active in the week to Mon 00:00 UTC with only 2 requests (310 tokens)")
        let board = try h.latestBoard(window: "24h")
        #expect(board.entries["pad"]?.flags == ["mandate_minimum"])
        #expect(board.entries["val"]?.flags == [])
        #expect(board.adoption["active_users"] == 2)
        #expect(board.adoption["effective_active_ratio"]! < board.adoption["active_ratio"]!)
        #expect(board.adoption["effective_active_ratio"] == 0.5)
    }
}
