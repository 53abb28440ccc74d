import Testing
@testable import TokenwatchCore

@Suite("Alerts: lifecycle, service accounts, settings")
struct AlertLifecycleTests {
    typealias H = DetectionHarness

    static func beat(_ h: inout DetectionHarness, user: String, from start: Int64, hours: Double, interval: Int64 = 60_000,
                     source: String? = nil, prompt: (Int) -> String = { "b\($0)" }) {
        let n = Int(hours * Double(H.hour) / Double(interval))
        for i in 0..<n {
            h.schedule(UsageEvent(id: h.id(), ts: start + Int64(i) * interval + Int64(i % 3) * 200, user: user,
                                  input: 700 + Int64(i * 37 % 300), output: 200, prompt: prompt(i), source: source))
        }
    }

    @Test func oneBehaviourOneAlertThenResolvedWithTheSameId() throws {
        var h = DetectionHarness()
        Self.beat(&h, user: "kim", from: H.monday + 8 * H.hour, hours: 10)
        h.play()
        h.flush(advanceMs: 12 * H.hour)
        let alerts = try h.alerts(rule: "machine_cadence")
        #expect(alerts.map(\.state) == ["firing", "resolved"])
        let (fired, resolved) = (alerts[0], alerts[1])
        #expect(fired.id == resolved.id)
        #expect(fired.id == Detector.alertId(rule: "machine_cadence", user: "kim", episodeStart: fired.ts))
        // Resolved once the beat had been gone for the 6h cooldown (at the first snapshot after).
        let lastRequest = H.monday + 18 * H.hour
        #expect(resolved.ts >= lastRequest + 6 * H.hour && resolved.ts <= lastRequest + 6 * H.hour + 2 * 60_000)
        #expect(resolved.summary.hasPrefix("kim: machine_cadence resolved, not seen since"))
        // While it was open the boards flagged kim; after resolution they do not.
        let board = try h.latestBoard(window: "24h")
        #expect(board.entries["kim"]?.flags == [])
    }

    @Test func behaviourThatComesBackIsANewEpisode() throws {
        var h = DetectionHarness()
        Self.beat(&h, user: "lee", from: H.monday + 8 * H.hour, hours: 3)
        Self.beat(&h, user: "lee", from: H.monday + H.day + 8 * H.hour, hours: 3)
        h.play()
        h.flush(advanceMs: 12 * H.hour)
        let alerts = try h.alerts(rule: "machine_cadence")
        #expect(alerts.map(\.state) == ["firing", "resolved", "firing", "resolved"])
        #expect(alerts[0].id == alerts[1].id && alerts[2].id == alerts[3].id && alerts[0].id != alerts[2].id)
    }

    @Test func flagsAndSuspicionFollowOpenAlerts() throws {
        var h = DetectionHarness()
        var rng = TestRandom(50)
        Self.beat(&h, user: "moe", from: H.monday + 8 * H.hour, hours: 6)
        h.workday(user: "ned", start: H.monday + 8 * H.hour, hours: 6, requests: 100, rng: &rng)
        h.play()
        h.flush()
        let board = try h.latestBoard(window: "1h")
        let moe = try #require(board.entries["moe"])
        #expect(moe.flags == ["machine_cadence"])
        #expect(moe.suspicion >= 0.7 && moe.suspicion <= 0.9)
        #expect(moe.effective == Int64((Double(moe.tokens) * (1 - moe.suspicion)).rounded()) || abs(Double(moe.effective) - Double(moe.tokens) * (1 - moe.suspicion)) < Double(moe.tokens) * 0.0001 + 1)
        #expect(board.entries["ned"]?.flags == [] && board.entries["ned"]?.suspicion == 0)
        #expect(board.adoption["effective_active_ratio"] == 0.5)
    }

    @Test func serviceAccountsNeverGetPeopleAlerts() throws {
        var h = DetectionHarness()
        Self.beat(&h, user: "svc-nightly", from: H.monday, hours: 30, prompt: { _ in "same" })
        Self.beat(&h, user: "deploy-bot", from: H.monday, hours: 30, prompt: { _ in "same" })
        Self.beat(&h, user: "ops", from: H.monday, hours: 30, source: "ci", prompt: { _ in "same" })
        h.play()
        h.flush(advanceMs: 12 * H.hour)
        #expect(try h.alerts().isEmpty)
        #expect(h.outputs.contains { $0.kind == .leaderboard })
        let board = try h.latestBoard(window: "24h")
        #expect(board.entries.isEmpty)
    }

    @Test func disabledRuleStaysQuietAndSeverityIsConfigurable() throws {
        var h = DetectionHarness(DetectionHarness.configuration {
            $0.rules[.machineCadence] = RuleParameters(enabled: false, severity: .warning)
            $0.rules[.duplicatePrompts] = RuleParameters(severity: .critical, cooldownMs: 3_600_000)
        })
        Self.beat(&h, user: "oz", from: H.monday + 8 * H.hour, hours: 4, prompt: { "p\($0 % 3)" })
        h.play()
        h.flush(advanceMs: 3 * H.hour)
        #expect(try h.alerts(rule: "machine_cadence").isEmpty)
        let dup = try h.alerts(rule: "duplicate_prompts")
        #expect(dup.map(\.severity) == ["critical", "critical"])
        #expect(dup.last.map { $0.ts - (H.monday + 12 * H.hour) < 2 * H.hour } == true)
    }

    @Test func stateStaysBoundedPerUser() throws {
        // A day of a script at 5-second intervals: the per-user state does not grow with the events,
        // and the queue holds at most one finding per (user, rule, snapshot interval).
        var h = DetectionHarness()
        Self.beat(&h, user: "sam", from: H.monday, hours: 24, interval: 5_000, prompt: { "p\($0 % 2)" })
        h.play()
        #expect(h.engine.detector.signals.count == 1)
        #expect(h.engine.detector.prompts.count == DuplicatePromptsRule.recent)
        #expect(MemoryLayout<UserSignals>.stride <= 272)
        #expect(h.engine.detector.queue.count <= 3 * 10)  // only what is past the watermark's reach
        #expect(h.engine.detector.counters.findings <= 3 * 24 * 60)
        #expect(h.engine.detector.weeks.count == 1 && h.engine.detector.weeks[0].active == [0])
    }

    @Test func emittedAtCanBeStampedWithTheWallClock() throws {
        var h = DetectionHarness()
        Self.beat(&h, user: "pia", from: H.monday + 8 * H.hour, hours: 3)
        h.play()
        h.flush()
        let record = try #require(h.outputs.first { $0.kind == .alert })
        let stamped = record.stampingEmittedAt(1_800_000_000_123)
        let text = String(decoding: stamped.value, as: UTF8.self)
        #expect(text.hasSuffix(",\"emitted_at\":1800000000123}"))
        #expect(try ParsedAlert(stamped).id == ParsedAlert(record).id)
        #expect(OutputRecord(kind: .leaderboard, key: nil, value: [1]).stampingEmittedAt(5).value == [1])
    }
}

@Suite("Alert text")
struct AlertTextTests {
    @Test func numbersAndTimesReadLikeAPersonWroteThem() {
        #expect(AlertText.tokens(950) == "950")
        #expect(AlertText.tokens(4_130) == "4.1k")
        #expect(AlertText.tokens(412_345) == "412k")
        #expect(AlertText.tokens(1_250_000) == "1.3M")
        #expect(AlertText.seconds(ms: 30_000) == "30.0 s")
        #expect(AlertText.duration(ms: 86_400_000) == "24h")
        #expect(AlertText.duration(ms: 12_300_000) == "3h25m")
        #expect(AlertText.duration(ms: 7 * 86_400_000) == "7d")
        #expect(AlertText.percent(0.637) == "64%")
        #expect(AlertText.fixed(2.0, 1) == "2.0" && AlertText.fixed(-0.04, 1) == "0.0")
        #expect(AlertText.utc(DetectionHarness.monday + 14 * 3_600_000 + 5 * 60_000) == "Mon 14:05 UTC")
        #expect(AlertText.utc(DetectionHarness.monday - 60_000) == "Sun 23:59 UTC")
    }
}
