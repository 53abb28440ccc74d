import Testing
@testable import TokenwatchCore

/// The signals that hold when gamers try to look human, each against its nearest legitimate look-alike:
/// unbroken stretches (machine_cadence), paraphrases (duplicate_prompts), teams gaming together
/// (peer_outlier), unknown outcomes (low_yield), threshold-hugging (mandate_minimum), a slow sprint.
@Suite("Rules: evasion signals")
struct EvasionSignalTests {
    typealias H = DetectionHarness
    static var day3: Int64 { H.monday + 2 * H.day }

    // MARK: - Unbroken stretches

    @Test func burstinessOfAClockIsMinusOneOfMemorylessGapsZero() {
        #expect(MachineCadenceRule.burstiness(mean: 30, std: 0) == -1)
        #expect(MachineCadenceRule.burstiness(mean: 30, std: 30) == 0)
        #expect(MachineCadenceRule.burstiness(mean: 30, std: 90) == 0.5)
    }

    /// Requests with exponential gaps of `mean` ms for `hours` from `start`, `accept` of them accepted.
    static func poisson(_ h: inout DetectionHarness, user: String, start: Int64, hours: Double, mean: Double, accept: Double,
                        rng: inout TestRandom) {
        var t = Double(start) + rng.exponential(mean: mean)
        while t < Double(start) + hours * Double(H.hour) {
            let accepted = rng.unit() < accept
            h.schedule(UsageEvent(id: h.id(), ts: Int64(t), user: user, input: rng.int(800...2_400), output: 300,
                                  accepted: accepted, prompt: "q\(rng.next())", lines: accepted ? rng.int(1...60) : 0))
            t += rng.exponential(mean: mean)
        }
    }

    @Test func memorylessScriptForHoursWithoutABreakFires() throws {
        var h = DetectionHarness()
        var rng = TestRandom(11)
        HollowOutcomesRuleTests.history(&h, user: "scr", rng: &rng)
        Self.poisson(&h, user: "scr", start: Self.day3 + 9 * H.hour, hours: 7, mean: 60_000, accept: 0.01, rng: &rng)
        h.play()
        h.flush(advanceMs: H.hour)
        let a = try #require(try h.alerts(rule: "machine_cadence").first)
        #expect(a.user == "scr" && a.ts >= Self.day3 + 14 * H.hour)
        #expect(try #require(a.evidence["burstiness"]).magnitude < 0.2)
        #expect(a.summary.contains("without a break"))
    }

    @Test func longAcceptedStretchDoesNotFire() throws {
        // A crunch: eight unbroken hours at the user's usual acceptance.
        var h = DetectionHarness()
        var rng = TestRandom(12)
        HollowOutcomesRuleTests.history(&h, user: "cru", rng: &rng)
        Self.poisson(&h, user: "cru", start: Self.day3 + 9 * H.hour, hours: 8, mean: 60_000, accept: 0.4, rng: &rng)
        h.play()
        h.flush(advanceMs: H.hour)
        #expect(try h.alerts(rule: "machine_cadence").isEmpty)
    }

    // MARK: - Paraphrases

    @Test func reAskingTheSameContextWithNewHashesFires() throws {
        var h = DetectionHarness()
        var rng = TestRandom(13)
        var t = Self.day3 + 9 * H.hour
        for _ in 0..<30 {
            let size = rng.int(2_000...9_000)
            for _ in 0..<3 {
                let input = size + Int64(Double(size) * 0.003 * (rng.unit() - 0.5))
                h.schedule(UsageEvent(id: h.id(), ts: t, user: "par", input: input, output: 400, prompt: "r\(rng.next())"))
                t += 40_000
            }
        }
        h.play()
        h.flush(advanceMs: H.hour)
        let a = try #require(try h.alerts(rule: "duplicate_prompts").first)
        #expect(a.user == "par")
        #expect(try #require(a.evidence["share"]) >= 0.5)
        #expect(a.summary.contains("re-sent a recent prompt or context"))
    }

    @Test func newQuestionsOfVariedSizeDoNotFire() throws {
        var h = DetectionHarness()
        var rng = TestRandom(14)
        var t = Self.day3 + 9 * H.hour
        for _ in 0..<90 {
            h.schedule(UsageEvent(id: h.id(), ts: t, user: "var", input: rng.int(2_000...9_000), output: 400, prompt: "v\(rng.next())"))
            t += 40_000
        }
        h.play()
        h.flush(advanceMs: H.hour)
        #expect(try h.alerts(rule: "duplicate_prompts").isEmpty)
    }

    // MARK: - A team gaming together

    /// Four ordinary teams of five, a team of five who all pad their day, and a team of five heavy
    /// users whose outcomes keep pace.
    static func organisation(_ h: inout DetectionHarness, rng: inout TestRandom) {
        let start = Self.day3 + 9 * H.hour
        for team in ["t1", "t2", "t3", "t4", "squad", "heavy"] {
            for m in 0..<5 {
                let user = "\(team)-\(m)"
                let requests = team == "heavy" ? 250 : 50
                h.workday(user: user, team: team, start: start, hours: 8, requests: requests, rng: &rng)
                guard team == "squad" else { continue }
                for i in 0..<80 {
                    h.schedule(UsageEvent(id: h.id(), ts: start + Int64(i) * 360_000, user: user, team: team,
                                          input: 25_000, output: 1_000, accepted: rng.unit() < 0.02, prompt: "z\(rng.next())"))
                }
            }
        }
    }

    @Test func teamWhoseMedianIsAnOutlierIsComparedWithTheOrganisation() throws {
        var h = DetectionHarness()
        var rng = TestRandom(15)
        Self.organisation(&h, rng: &rng)
        h.play()
        h.flush(advanceMs: 2 * H.hour)
        let alerted = Set(try h.alerts(rule: "peer_outlier").filter { $0.state == "firing" }.map(\.user))
        #expect(alerted == Set((0..<5).map { "squad-\($0)" }))
        let a = try #require(try h.alerts(rule: "peer_outlier").first)
        #expect(a.summary.contains("the organisation's median (team squad's own median is an outlier)"))
        // The heavy team's outcomes keep pace: compared with themselves, nobody stands out.
        #expect(try h.alerts().allSatisfy { !$0.user.hasPrefix("heavy") })
    }

    @Test func teamComparisonIsTheSameAcrossShards() throws {
        var rng = TestRandom(16)
        var h = DetectionHarness()
        Self.organisation(&h, rng: &rng)
        let events = h.scheduled.map(\.event).enumerated().sorted { a, b in
            a.element.ts != b.element.ts ? a.element.ts < b.element.ts : a.offset < b.offset
        }.map(\.element)
        func run(shards: Int) -> [OutputRecord] {
            var engine = ShardedEngine(configuration: DetectionHarness.configuration(), shards: shards, keyedPartitions: 4)
            engine.assign(partitions: [0, 1, 2, 3])
            var offsets = [Int64](repeating: 0, count: 4)
            for (n, e) in events.enumerated() {
                let p = Int32(e.user.utf8.reduce(0) { $0 &+ Int($1) } % 4)
                var bytes = Array(e.json.utf8)
                _ = bytes.withUnsafeMutableBytes { engine.process(UnsafeRawBufferPointer($0), partition: p, offset: offsets[Int(p)]) }
                offsets[Int(p)] += 1
                if n % 97 == 0 { engine.emitDueSnapshots() }
            }
            engine.emitDueSnapshots(idle: [0, 1, 2, 3], quietAdvanceMs: 2 * H.hour)
            return engine.takeOutputs().filter { $0.kind == .alert }
        }
        let one = run(shards: 1)
        #expect(one.contains { String(decoding: $0.value, as: UTF8.self).contains("peer_outlier") })
        #expect(run(shards: 2) == one)
        #expect(run(shards: 3) == one)
    }

    // MARK: - Unknown outcomes

    @Test func heavyReaderWhoseToolReportsNoOutcomeIsNotComparedOnYield() throws {
        var h = DetectionHarness()
        var rng = TestRandom(17)
        let start = Self.day3 + 9 * H.hour
        for m in 0..<5 { h.workday(user: "rev-\(m)", team: "rev", start: start, hours: 8, requests: 50, rng: &rng) }
        for (user, reports) in [("rita", false), ("rick", true)] {
            for i in 0..<330 {  // about 6x the team's median
                h.schedule(UsageEvent(id: h.id(), ts: start + Int64(i) * 87_000, user: user, team: "rev", input: rng.int(800...2_400),
                                      output: 400, prompt: "w\(rng.next())", reportsOutcome: reports))
            }
        }
        h.play()
        h.flush(advanceMs: 2 * H.hour)
        let users = Set(try h.alerts(rule: "low_yield").map(\.user))
        // The same volume and no outcome: reported as none, it is low; not reported, it is unknown.
        #expect(users == ["rick"])
    }

    // MARK: - Threshold-hugging

    /// Twenty-four users with two ordinary days, and the cutoff on Wednesday 00:00.
    static func smallWeek(_ h: inout DetectionHarness, users: Int, rng: inout TestRandom) {
        for u in 0..<users {
            for d in 0..<2 {
                h.workday(user: "dev\(u)", start: H.monday + Int64(d) * H.day + 9 * H.hour, hours: 8, requests: 100, rng: &rng)
            }
        }
    }

    static func hugger(_ h: inout DetectionHarness, user: String, requests: Int) {
        for i in 0..<requests {
            h.schedule(UsageEvent(id: h.id(), ts: H.monday + H.day + 10 * H.hour + Int64(i) * 600_000, user: user,
                                  input: 600, output: 300, prompt: "h\(i)"))
        }
    }

    @Test func aLittleAboveTheFixedThresholdIsStillPadding() throws {
        var h = DetectionHarness(DetectionHarness.configuration { $0.weeklyCutoffOffsetMs = 2 * H.day })
        var rng = TestRandom(18)
        Self.smallWeek(&h, users: 24, rng: &rng)
        Self.hugger(&h, user: "hug", requests: 6)  // 5,400 tokens: above the fixed 3 requests and 3,000 tokens
        Self.hugger(&h, user: "lite", requests: 30)  // light, but real
        h.play()
        h.flush(advanceMs: 12 * H.hour)
        let alerts = try h.alerts(rule: "mandate_minimum")
        #expect(alerts.map(\.user) == ["hug"])
        let a = try #require(alerts.first)
        #expect(a.severity == "info" && a.evidence["requests"] == 6)
        #expect(try #require(a.evidence["trivial_requests_at_most"]) >= 6)
        #expect(a.summary.hasSuffix("within 5% of the typical user's week"))
    }

    @Test func withFewUsersOnlyTheFixedThresholdsCount() throws {
        var h = DetectionHarness(DetectionHarness.configuration { $0.weeklyCutoffOffsetMs = 2 * H.day })
        var rng = TestRandom(19)
        Self.smallWeek(&h, users: 5, rng: &rng)
        Self.hugger(&h, user: "hug", requests: 6)
        h.play()
        h.flush(advanceMs: 12 * H.hour)
        #expect(h.engine.detector.lastCutoffEvaluated == H.monday + 2 * H.day)
        #expect(try h.alerts(rule: "mandate_minimum").isEmpty)
    }

    // MARK: - A slow sprint

    @Test func sprintSpreadOverTheLastTwoDaysFires() throws {
        var h = DetectionHarness()
        var rng = TestRandom(20)
        let cutoff = WeeklyRuleTests.cutoff
        for d in 0..<5 { h.workday(user: "sly", start: H.monday + Int64(d) * H.day + 9 * H.hour, hours: 8, requests: 100, rng: &rng) }
        // Spread evenly over the last 44 hours: under half of the week falls in the last 24.
        h.workday(user: "sly", start: cutoff - 45 * H.hour, hours: 44, requests: 300, input: 8_000...11_000, acceptRate: 0, rng: &rng)
        h.play()
        h.flush(advanceMs: 12 * H.hour)
        let a = try #require(try h.alerts(rule: "leaderboard_sprint").first)
        #expect(a.user == "sly" && a.ts == cutoff && a.evidence["window_ms"] == Double(2 * H.day))
    }

    @Test func incidentJustBeforeTheCutoffWithAcceptedWorkDoesNotFire() throws {
        var h = DetectionHarness()
        var rng = TestRandom(21)
        let cutoff = WeeklyRuleTests.cutoff
        for d in 0..<5 { h.workday(user: "inc", start: H.monday + Int64(d) * H.day + 9 * H.hour, hours: 8, requests: 20, rng: &rng) }
        // Twice the usual request size, accepted a little more often than usual: outcomes per token in line.
        h.workday(user: "inc", start: cutoff - 5 * H.hour, hours: 4, requests: 300, input: 1_600...4_800, acceptRate: 0.5, rng: &rng)
        h.play()
        h.flush(advanceMs: 12 * H.hour)
        #expect(try h.alerts(rule: "leaderboard_sprint").isEmpty)
    }
}
