import Testing
@testable import TokenwatchCore

/// `leaderboard_sprint` against the user's own earlier weeks, or the organisation's median week for new users.
@Suite("Rules: leaderboard_sprint against the user's own weeks")
struct SprintBaselineTests {
    typealias H = DetectionHarness
    static let rule = LeaderboardSprintRule(RuleParameters.defaults(.leaderboardSprint))

    /// One user's week: `week` tokens with 30 outcomes, `late` of them in the window with no outcome.
    static func book(week: Int64, late: Int64) -> WeekBook {
        var b = WeekBook(cutoff: H.monday)
        b.add(user: 0, tokens: week - late, outcomes: 30, late: false)
        b.add(user: 0, tokens: late, outcomes: 0, late: true)
        return b
    }

    static func history(_ shares: [Double]) -> UserSignals {
        var s = UserSignals()
        for share in shares { LeaderboardSprintRule.fold(&s, week: 1_000_000, late: Int64(share * 1_000_000)) }
        return s
    }

    @Test func aSprintFarAboveTheUsersOwnWeeksFiresBelowTheAbsoluteShare() throws {
        let own = Self.rule.baseline(Self.history([0.04, 0.06, 0.05]), organisation: nil)
        #expect(own.ownWeeks == 3 && abs(own.share - 0.05) < 0.01)
        // 40% of the week in the last two days: under min_share (50%), but eight times their habit.
        let (_, e) = try #require(Self.rule.evaluate(Self.book(week: 1_000_000, late: 400_000), user: 0, baseline: own))
        var w = JSONWriter()
        let summary = Self.rule.describe(e, user: "sol", into: &w)
        #expect(summary.hasSuffix("; usually 5% (their own 3 earlier weeks)"))
        #expect(String(decoding: w.bytes, as: UTF8.self).contains(#""usual_from":"own_weeks","own_weeks":3"#))
    }

    @Test func weeksThatAlwaysEndHeavyAreNotASprint() {
        // The look-alike: a user whose weeks always put 45% in the window (a time zone, a Friday cutoff).
        let own = Self.rule.baseline(Self.history([0.45, 0.5, 0.42]), organisation: nil)
        #expect(Self.rule.evaluate(Self.book(week: 1_000_000, late: 600_000), user: 0, baseline: own) == nil)
        // And one earlier week is not yet a history: the organisation's median stands in.
        let new = Self.rule.baseline(Self.history([0.05]), organisation: nil)
        #expect(new.ownWeeks == 0)
        #expect(Self.rule.evaluate(Self.book(week: 1_000_000, late: 400_000), user: 0, baseline: new) == nil)
    }

    @Test func newUsersAreComparedWithTheOrganisationsMedianWeek() throws {
        // Too few users for a median: no baseline, min_share alone.
        var few = PeerSample()
        few.week = [PeerSample.WeekMember(events: 100, tokens: 1_000_000, late: 600_000)]
        #expect(Self.rule.baseline(UserSignals(), organisation: PeerReference(samples: [few])) == .init())
        var sample = PeerSample()
        sample.week = (0..<21).map { i in PeerSample.WeekMember(events: 100, tokens: 1_000_000, late: Int64(i % 3 == 0 ? 200_000 : 100_000)) }
        let org = PeerReference(samples: [sample])
        #expect(abs(org.weekMedianLateShare - 0.1) < 1e-9)
        let b = Self.rule.baseline(UserSignals(), organisation: org)
        #expect(b.ownWeeks == 0 && abs(b.share - 0.1) < 1e-9)
        let (_, e) = try #require(Self.rule.evaluate(Self.book(week: 1_000_000, late: 600_000), user: 0, baseline: b))
        var w = JSONWriter()
        #expect(Self.rule.describe(e, user: "ned", into: &w).hasSuffix("; the median user put 10% there"))
        // An organisation whose weeks end heavy raises the bar for users without a history of their own.
        var heavy = PeerSample()
        heavy.week = (0..<21).map { _ in PeerSample.WeekMember(events: 100, tokens: 1_000_000, late: 250_000) }
        let bar = Self.rule.baseline(UserSignals(), organisation: PeerReference(samples: [heavy]))
        #expect(Self.rule.evaluate(Self.book(week: 1_000_000, late: 600_000), user: 0, baseline: bar) == nil)
    }

    @Test func ordinaryWeeksBuildTheBaselineAndSprintsDoNot() throws {
        // Three weeks through the engine: two ordinary ones, then 40% in the last two days at no yield.
        var h = DetectionHarness()
        var rng = TestRandom(7)
        for k in 0..<3 {
            let monday = H.monday + Int64(k) * 7 * H.day
            for d in 0..<5 {
                h.workday(user: "una", start: monday + Int64(d) * H.day + 9 * H.hour, hours: 8, requests: 40,
                          input: 3_000...5_000, rng: &rng)
            }
            if k == 2 {
                h.workday(user: "una", start: monday + 6 * H.day + 8 * H.hour, hours: 10, requests: 60,
                          input: 8_000...10_000, acceptRate: 0, rng: &rng)
            }
        }
        h.play()
        h.flush(advanceMs: 12 * H.hour)
        let alerts = try h.alerts(rule: "leaderboard_sprint").filter { $0.state == "firing" }
        #expect(alerts.count == 1)
        #expect(alerts.first?.ts == H.monday + 21 * H.day)
        #expect(alerts.first?.summary.contains("(their own 2 earlier weeks)") == true)
        #expect(alerts.first.map { $0.evidence["share"] ?? 1 } ?? 1 < 0.5)
        // The sprint week was not folded into the baseline.
        var name = "una"
        let u = try #require(name.withUTF8 { h.engine.users.lookup(UnsafeRawBufferPointer($0)) })
        #expect(h.engine.detector.signals[Int(u)].sprintWeeks == 2)
    }
}
