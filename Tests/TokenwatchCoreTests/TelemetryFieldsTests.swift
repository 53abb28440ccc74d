import Foundation
import Testing
@testable import TokenwatchCore

/// The optional telemetry (docs/events.md): auto-approved edits are no person's acceptance, and an
/// agent running with almost no person at the keyboard raises an alert's severity. Absent fields are
/// unknown, never zero.
@Suite("Rules: optional telemetry fields")
struct TelemetryFieldsTests {
    typealias H = DetectionHarness

    /// Outcomes of `user` on the newest 24h global board.
    static func outcomes(_ h: DetectionHarness, _ user: String) throws -> Int64? {
        let record = try #require(h.outputs.last { $0.kind == .leaderboard && $0.key == Array("24h|global".utf8) })
        let o = try #require(try JSONSerialization.jsonObject(with: Data(record.value)) as? [String: Any])
        let entry = (o["entries"] as? [[String: Any]])?.first { $0["user_id"] as? String == user }
        return (entry?["outcomes"] as? NSNumber)?.int64Value
    }

    @Test func autoApprovedEditsAreNotAcceptedOutcomes() throws {
        var h = DetectionHarness()
        for (i, user) in ["auto", "person", "unknown"].enumerated() {
            let extra = ["\"edits_auto_approved\":2", "\"edits_auto_approved\":0", ""][i]
            for k in 0..<10 {
                h.schedule(UsageEvent(id: h.id(), ts: H.monday + 9 * H.hour + Int64(k) * 60_000, user: user, accepted: true,
                                      lines: 5, extra: extra))
            }
        }
        h.play()
        h.flush(advanceMs: H.hour)
        #expect(try Self.outcomes(h, "auto") == 0)
        #expect(try Self.outcomes(h, "person") == 10)
        #expect(try Self.outcomes(h, "unknown") == 10)  // not reported: read as before, a person's acceptance
    }

    static func config() -> EngineConfiguration {
        H.configuration { d in
            var p = RuleParameters.defaults(.machineCadence)
            p.thresholds["escalate_score"] = 0
            d.rules[.machineCadence] = p
        }
    }

    /// A 3 h metronome whose events carry `extra`.
    static func beat(_ h: inout DetectionHarness, user: String, extra: String) {
        for i in 0..<180 {
            h.schedule(UsageEvent(id: h.id(), ts: H.monday + 8 * H.hour + Int64(i) * 60_000 + Int64(i % 3) * 200, user: user,
                                  input: 700 + Int64(i * 37 % 300), output: 200, prompt: "b\(i)", extra: extra))
        }
    }

    @Test func anAgentRunningWithNoPersonAtTheKeyboardRaisesTheAlert() throws {
        var h = DetectionHarness(Self.config())
        Self.beat(&h, user: "bot-like", extra: #""human_active_ms":0,"agent_active_ms":60000"#)
        h.play()
        h.flush(advanceMs: 12 * H.hour)
        // machine_cadence fires after an hour on the beat: by then the agent has run an hour unattended.
        let fired = try #require(try h.alerts(rule: "machine_cadence").first)
        #expect(fired.severity == "critical")
        #expect(fired.summary.contains("(warning → critical: the agent ran 1h"))  // as of the finding, not later events
        #expect(fired.summary.hasSuffix("with 0s of a person at the keyboard)"))
    }

    @Test func aPersonWorkingAlongsideTheAgentOrNoTelemetryStaysAtTheRulesSeverity() throws {
        // The look-alikes: the same beat with a person active half the agent's time, and without the fields.
        var h = DetectionHarness(Self.config())
        Self.beat(&h, user: "pair", extra: #""human_active_ms":30000,"agent_active_ms":60000"#)
        Self.beat(&h, user: "silent", extra: "")
        Self.beat(&h, user: "half", extra: #""agent_active_ms":60000"#)  // human time not reported: unknown
        h.play()
        h.flush(advanceMs: 12 * H.hour)
        let fired = try h.alerts(rule: "machine_cadence").filter { $0.state == "firing" }
        #expect(Set(fired.map(\.user)) == ["pair", "silent", "half"])
        #expect(fired.allSatisfy { $0.severity == "warning" && !$0.summary.contains("→") })
    }

    @Test func presenceIsHalvedEachDay() {
        var s = UserSignals()
        #expect(s.presence(asOf: H.monday) == nil)
        s.addPresence(human: 1_000, agent: 10_000, ts: H.monday + H.hour)
        s.addPresence(human: 2_000, agent: 20_000, ts: H.monday + H.day + H.hour)
        #expect(s.presence(asOf: H.monday + H.day + 2 * H.hour).map { [$0.human, $0.agent] } == [2_500, 25_000])
        #expect(s.presence(asOf: H.monday + 2 * H.day).map { [$0.human, $0.agent] } == [1_250, 12_500])
        #expect(s.presence(asOf: H.monday + 40 * H.day) == nil)
        let e = Escalation(RuleParameters.defaults(.lowYield), defaults: Escalation.defaults)
        #expect(e.reasons(score: 0.6, periods: 1, presence: (0, 3_599_999)).isEmpty)  // under an hour of agent time
        #expect(e.reasons(score: 0.6, periods: 1, presence: (180_000, 3_600_000)) == .unattended)
        #expect(e.reasons(score: 0.6, periods: 1, presence: (181_000, 3_600_000)).isEmpty)
        #expect(e.reasons(score: 0.6, periods: 1, presence: nil).isEmpty)
    }
}
