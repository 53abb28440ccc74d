/// How urgent an alert is, as written in `severity` (`info` < `warning` < `critical`).
public enum AlertSeverity: String, Sendable, CaseIterable, Comparable {
    case info
    case warning
    case critical

    public static func < (a: AlertSeverity, b: AlertSeverity) -> Bool { a.rank < b.rank }

    var rank: Int {
        switch self {
        case .info: 0
        case .warning: 1
        case .critical: 2
        }
    }
}

/// The tokenmaxxing rules the engine evaluates, in the order they are documented (DESIGN.md).
public enum RuleKind: String, Sendable, CaseIterable, Comparable {
    case volumeSpike = "volume_spike"
    case peerOutlier = "peer_outlier"
    case lowYield = "low_yield"
    case machineCadence = "machine_cadence"
    case duplicatePrompts = "duplicate_prompts"
    case leaderboardSprint = "leaderboard_sprint"
    case mandateMinimum = "mandate_minimum"
    case hollowOutcomes = "hollow_outcomes"

    /// Position in `allCases`; also the rule's bit in a user's set of open alerts.
    public var index: Int {
        switch self {
        case .volumeSpike: 0
        case .peerOutlier: 1
        case .lowYield: 2
        case .machineCadence: 3
        case .duplicatePrompts: 4
        case .leaderboardSprint: 5
        case .mandateMinimum: 6
        case .hollowOutcomes: 7  // the last bit of a user's open set (UInt8)
        }
    }

    public static func < (a: RuleKind, b: RuleKind) -> Bool { a.index < b.index }

    static let byIndex: [RuleKind] = allCases.sorted()

    /// Severity when the configuration sets none: `info` for `mandate_minimum`, else `warning`.
    public var defaultSeverity: AlertSeverity { self == .mandateMinimum ? .info : .warning }

    /// The rule's thresholds and their defaults (durations in milliseconds). `TokenwatchConfig`'s
    /// `RuleCatalog` documents the same keys with the same defaults; a test keeps them equal.
    public var defaultThresholds: [String: Double] {
        ownDefaultThresholds.merging(escalationDefaults) { own, _ in own }
    }

    /// `escalate_score` and `escalate_days`, which every rule takes (see `Escalation`).
    var escalationDefaults: [String: Double] { self == .mandateMinimum ? Escalation.mandateDefaults : Escalation.defaults }

    private var ownDefaultThresholds: [String: Double] {
        switch self {
        case .volumeSpike: VolumeSpikeRule.defaults
        case .peerOutlier: PeerOutlierRule.defaults
        case .lowYield: LowYieldRule.defaults
        case .machineCadence: MachineCadenceRule.defaults
        case .duplicatePrompts: DuplicatePromptsRule.defaults
        case .leaderboardSprint: LeaderboardSprintRule.defaults
        case .mandateMinimum: MandateMinimumRule.defaults
        case .hollowOutcomes: HollowOutcomesRule.defaults
        }
    }
}

/// The settings of one rule: `rules.<name>` of the configuration.
public struct RuleParameters: Sendable, Equatable {
    /// Whether the rule runs (default true).
    public var enabled: Bool
    /// Severity of its alerts (default: the rule's).
    public var severity: AlertSeverity
    /// Per-(user, rule) quiet period: an alert is resolved once the behaviour has not been seen
    /// for this long, in event time (default 6h).
    public var cooldownMs: Int64
    /// Threshold values by key; keys not given take the rule's default.
    public var thresholds: [String: Double]

    public init(enabled: Bool = true, severity: AlertSeverity, cooldownMs: Int64 = 6 * 3_600_000,
                thresholds: [String: Double] = [:]) {
        self.enabled = enabled
        self.severity = severity
        self.cooldownMs = cooldownMs
        self.thresholds = thresholds
    }

    /// The defaults of `rule`.
    public static func defaults(_ rule: RuleKind) -> RuleParameters {
        RuleParameters(severity: rule.defaultSeverity, thresholds: rule.defaultThresholds)
    }

    /// The value of `key`, or `fallback` when the configuration did not set it.
    func value(_ key: String, _ fallback: [String: Double]) -> Double {
        thresholds[key] ?? fallback[key] ?? 0
    }
}

/// What the detection rules need to know: each rule's settings and the weekly cutoff.
public struct DetectionConfiguration: Sendable, Equatable {
    /// Settings per rule; a rule missing here takes its defaults.
    public var rules: [RuleKind: RuleParameters] = [:]
    /// Milliseconds from Monday 00:00 UTC to the weekly leaderboard cutoff (default 0: `mon 00:00`).
    public var weeklyCutoffOffsetMs: Int64 = 0

    public init() {}

    /// The settings of `rule` (its defaults when not configured).
    public func parameters(_ rule: RuleKind) -> RuleParameters { rules[rule] ?? .defaults(rule) }

    /// The same settings with every rule switched off (`tokenwatch bench --rules off`).
    public var allDisabled: DetectionConfiguration {
        var c = self
        for rule in RuleKind.allCases {
            var p = parameters(rule)
            p.enabled = false
            c.rules[rule] = p
        }
        return c
    }

    /// The first weekly cutoff strictly after `ts` (epoch ms, UTC).
    @inline(__always) public func cutoff(after ts: Int64) -> Int64 {
        let week: Int64 = 7 * 86_400_000
        let phase: Int64 = 4 * 86_400_000 + weeklyCutoffOffsetMs  // 1970-01-05 was a Monday
        return phase + (floorDiv(ts - phase, week) + 1) * week
    }
}
