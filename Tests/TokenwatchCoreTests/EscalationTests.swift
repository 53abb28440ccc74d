import Foundation
import Testing
@testable import TokenwatchCore

/// Severity escalation (`Escalation`): a step for a high score, a step for persistence across days,
/// each explained in the summary, never changing the severity under an `alert_id`.
@Suite("Severity escalates with score and persistence")
struct EscalationTests {
    typealias H = DetectionHarness

    /// Only persistence raises (score escalation off), so the tests isolate it.
    static func persistenceOnly(days: Double = 3) -> EngineConfiguration {
        H.configuration { d in
            var p = RuleParameters.defaults(.machineCadence)
            p.thresholds["escalate_score"] = 0
            p.thresholds["escalate_days"] = days
            d.rules[.machineCadence] = p
        }
    }

    /// A 3 h metronome from 08:00 on each of `days` (days after Monday).
    static func beats(_ h: inout DetectionHarness, user: String, days: [Int64]) {
        for d in days { AlertLifecycleTests.beat(&h, user: user, from: H.monday + d * H.day + 8 * H.hour, hours: 3) }
    }

    static func escalation(_ record: OutputRecord) throws -> [String: Any]? {
        let o = try #require(try JSONSerialization.jsonObject(with: Data(record.value)) as? [String: Any])
        return (o["evidence"] as? [String: Any])?["escalation"] as? [String: Any]
    }

    @Test func aRuleFiringOnThreeDaysFiresCriticalAndSaysWhy() throws {
        var h = DetectionHarness(Self.persistenceOnly())
        Self.beats(&h, user: "kim", days: [0, 1, 2])
        h.play()
        h.flush(advanceMs: 12 * H.hour)
        let firing = try h.alerts(rule: "machine_cadence").filter { $0.state == "firing" }
        #expect(firing.map(\.severity) == ["warning", "warning", "critical"])
        #expect(firing[2].summary.hasSuffix("(warning → critical: fired on 3 days of the last 7)"))
        let record = try #require(h.outputs.filter { $0.kind == .alert }.last { try ParsedAlert($0).id == firing[2].id && ParsedAlert($0).state == "firing" })
        let e = try #require(try Self.escalation(record))
        #expect(e["from"] as? String == "warning" && e["to"] as? String == "critical")
        #expect(e["by_persistence"] as? Bool == true && e["by_score"] as? Bool == false)
        #expect((e["periods_fired"] as? NSNumber)?.intValue == 3)
        // The resolved message repeats the fired severity and its reason.
        let resolved = try h.alerts(rule: "machine_cadence").filter { $0.state == "resolved" && $0.id == firing[2].id }
        #expect(resolved.map(\.severity) == ["critical"])
        #expect(resolved.first?.summary.contains("warning → critical") == true)
    }

    @Test func occasionalRepeatsWeekApartStayAtTheRulesSeverity() throws {
        // The nearest look-alike: the same behaviour now and then (days 0, 1 and 8) is not persistence.
        var h = DetectionHarness(Self.persistenceOnly())
        Self.beats(&h, user: "lou", days: [0, 1, 8])
        h.play()
        h.flush(advanceMs: 12 * H.hour)
        let firing = try h.alerts(rule: "machine_cadence").filter { $0.state == "firing" }
        #expect(firing.map(\.severity) == ["warning", "warning", "warning"])
        #expect(firing.allSatisfy { !$0.summary.contains("→") })
        let plain = try #require(h.outputs.first { $0.kind == .alert })
        #expect(try Self.escalation(plain) == nil)
    }

    @Test func aHighScoreRaisesAStepAndALowerOneDoesNot() throws {
        let e = Escalation(RuleParameters.defaults(.lowYield), defaults: Escalation.defaults)
        #expect(e.reasons(score: 0.94, periods: 1).isEmpty)
        #expect(e.reasons(score: 0.95, periods: 1) == .score)
        #expect(e.reasons(score: 0.99, periods: 3) == [.score, .persistence])
        #expect(Escalation.raise(.warning, by: [.score, .persistence]) == .critical)
        #expect(Escalation.raise(.info, by: [.score, .persistence]) == .critical)
        #expect(Escalation.raise(.info, by: .persistence) == .warning)
        #expect(Escalation.raise(.info, by: []) == .info)
        // mandate_minimum's score measures how tiny the week was: by default only persistence raises it.
        let m = Escalation(RuleParameters.defaults(.mandateMinimum), defaults: RuleKind.mandateMinimum.escalationDefaults)
        #expect(m.reasons(score: 1, periods: 1).isEmpty)

        var h = DetectionHarness(H.configuration { d in
            var p = RuleParameters.defaults(.machineCadence)
            p.thresholds["escalate_score"] = 0.5  // every finding scores at least 0.5
            d.rules[.machineCadence] = p
        })
        Self.beats(&h, user: "max", days: [0])
        h.play()
        h.flush(advanceMs: 12 * H.hour)
        let fired = try #require(try h.alerts(rule: "machine_cadence").first)
        #expect(fired.severity == "critical")
        #expect(fired.summary.contains("(warning → critical: score "))
    }

    @Test func persistenceCountsInDaysAndWeeks() {
        var p = Persistence(period: 10, mask: 0)
        p.record(10); p.record(10); p.record(11); p.record(13)
        #expect(p.count(asOf: 13) == 3)
        #expect(p.count(asOf: 16) == 3)  // days 10, 11, 13 are all within the 7 up to day 16
        #expect(p.count(asOf: 17) == 2)  // day 10 has left the span
        #expect(p.count(asOf: 30) == 0)
        let c = DetectionConfiguration()
        let cutoff = H.monday
        #expect(Detector.period(of: .mandateMinimum, ts: cutoff, configuration: c) + 1
                == Detector.period(of: .mandateMinimum, ts: cutoff + 7 * H.day, configuration: c))
        #expect(Detector.period(of: .lowYield, ts: cutoff + H.day, configuration: c)
                == Detector.period(of: .lowYield, ts: cutoff, configuration: c) + 1)
    }

    @Test func anOpenAlertThatPersistsIsSupersededNotChanged() throws {
        // A beat that never stops keeps one alert open; on the third day it is raised: the open alert
        // resolves naming its successor, which fires at the higher severity under its own id.
        var h = DetectionHarness(Self.persistenceOnly())
        AlertLifecycleTests.beat(&h, user: "ray", from: H.monday + 8 * H.hour, hours: 50)
        h.play()
        h.flush(advanceMs: 12 * H.hour)
        let alerts = try h.alerts(rule: "machine_cadence")
        #expect(alerts.map(\.state) == ["firing", "resolved", "firing", "resolved"])
        #expect(alerts.map(\.severity) == ["warning", "warning", "critical", "critical"])
        #expect(alerts[0].id == alerts[1].id && alerts[2].id == alerts[3].id && alerts[0].id != alerts[2].id)
        #expect(alerts[1].ts == alerts[2].ts)
        #expect(alerts[1].summary.contains("resolved at warning and raised at"))
        #expect(alerts[1].summary.contains("(warning → critical: fired on 3 days of the last 7); it fired when"))
        let o = try #require(try JSONSerialization.jsonObject(with: Data(h.outputs.filter { $0.kind == .alert }[1].value)) as? [String: Any])
        #expect(o["superseded_by"] as? String == alerts[2].id)
    }

    @Test func persistenceSurvivesACheckpoint() throws {
        let config = Self.persistenceOnly()
        var whole = DetectionHarness(config)
        Self.beats(&whole, user: "kim", days: [0, 1, 2])
        whole.play()
        whole.flush(advanceMs: 12 * H.hour)

        var first = DetectionHarness(config)
        Self.beats(&first, user: "kim", days: [0, 1])
        first.play()
        var second = DetectionHarness(config)
        second.engine = try Engine(configuration: config, restoring: first.engine.checkpoint())
        second.offsets = first.offsets
        second.serial = first.serial
        Self.beats(&second, user: "kim", days: [2])
        second.play()
        second.flush(advanceMs: 12 * H.hour)
        let split = try (first.alerts() + second.alerts()).filter { $0.rule == "machine_cadence" }
        #expect(split.map(\.severity) == (try whole.alerts(rule: "machine_cadence")).map(\.severity))
        #expect(split.last?.severity == "critical")
    }
}
