/// How an alert's severity rises above the rule's configured one: a step for a high score, a step for
/// persistence — the same rule firing for the same user on several days of the last week (weeks of the
/// last seven for the weekly rules) — and a step when the telemetry shows the agent ran with almost no
/// person at the keyboard. Every rule takes the same keys, `escalate_score`, `escalate_days` and
/// `escalate_unattended` (declared once, in `RuleCatalog.escalation`); the raise never passes `critical`.
///
/// The severity is decided when an episode fires and never changes under its `alert_id`: an open alert
/// that becomes persistent is closed (`resolved`, naming the escalation) and a new episode fires at the
/// higher severity, so each id keeps one firing and one resolved message with one severity.
struct Escalation: Sendable, Equatable {
    static let defaults: [String: Double] = ["escalate_score": 0.95, "escalate_days": 3, "escalate_unattended": 0.05]
    /// `mandate_minimum`'s score says how tiny a padder's week was, not how sure the finding is, and a
    /// padder's few requests say nothing of agent time: only persistence raises it by default.
    static let mandateDefaults: [String: Double] = ["escalate_score": 0, "escalate_days": 3, "escalate_unattended": 0]
    /// Agent time (summed, halved at each new day) needed before a person's share of it is judged.
    static let unattendedMinAgentMs: UInt32 = 3_600_000
    /// How many periods back persistence looks (the bits of `Persistence.mask`).
    static let span = 7

    /// A score at or above this raises the severity a step (0: never).
    var score: Double
    /// Firing on this many periods of the last `span` raises it a step (0: never).
    var periods: Int
    /// A person's active time at most this share of the agent's raises it a step (0: never).
    var unattended: Double

    init(_ p: RuleParameters, defaults d: [String: Double]) {
        score = max(0, p.value("escalate_score", d))
        periods = Int(max(0, min(Double(Self.span), p.value("escalate_days", d))))
        unattended = max(0, p.value("escalate_unattended", d))
    }

    /// Why a finding with `score`, on a user whose persistence is `periods` and whose recent human and
    /// agent time is `presence` (nil: not reported, so unknown), is raised.
    func reasons(score s: Double, periods n: Int, presence: (human: UInt32, agent: UInt32)? = nil) -> EscalationReasons {
        var r: EscalationReasons = []
        if score > 0 && s >= score { r.insert(.score) }
        if periods > 0 && n >= periods { r.insert(.persistence) }
        if unattended > 0, let p = presence, p.agent >= Self.unattendedMinAgentMs,
           Double(p.human) <= unattended * Double(p.agent) { r.insert(.unattended) }
        return r
    }

    /// `base` raised a step per reason, at most to `critical`.
    static func raise(_ base: AlertSeverity, by r: EscalationReasons) -> AlertSeverity {
        let rank = min(AlertSeverity.critical.rank, base.rank + r.rawValue.nonzeroBitCount)
        return AlertSeverity.allCases.first { $0.rank == rank } ?? base
    }
}

/// Why an alert fires above its rule's severity.
struct EscalationReasons: OptionSet, Sendable, Equatable {
    let rawValue: UInt8
    static let score = EscalationReasons(rawValue: 1)
    static let persistence = EscalationReasons(rawValue: 2)
    /// The agent ran with almost no person at the keyboard (`human_active_ms` against `agent_active_ms`).
    static let unattended = EscalationReasons(rawValue: 4)
}

/// On which recent periods (days, or weeks for the weekly rules) a rule fired for one user.
/// Updated only at snapshot boundaries, from findings in their fixed order, so it is deterministic.
struct Persistence: Sendable, Equatable {
    /// The newest period with a finding (event time / period length).
    var period: Int64
    /// Bit k: a finding in period `period - k`.
    var mask: UInt8

    /// Counts a finding in period `p` (findings arrive in non-decreasing time per user and rule).
    mutating func record(_ p: Int64) {
        if p > period {
            let shift = p - period
            mask = shift >= 8 ? 1 : (mask << UInt8(shift)) | 1
            period = p
        } else if period - p < 8 {
            mask |= 1 << UInt8(period - p)
        }
    }

    /// Periods with a finding among the `span` up to and including `p`.
    func count(asOf p: Int64, span: Int = Escalation.span) -> Int {
        let back = p - period
        guard back >= 0, back < Int64(span) else { return 0 }
        let window: UInt8 = span >= 8 ? 0xFF : UInt8((1 << span) - 1)
        return Int(((mask << UInt8(back)) & window).nonzeroBitCount)
    }
}

extension AlertSeverity {
    /// The rule's configured severity when it fired above it, e.g. `warning → critical`.
    static func arrow(_ from: AlertSeverity, _ to: AlertSeverity) -> String { "\(from.rawValue) → \(to.rawValue)" }
}
