/// Who a synthetic user is: the ground truth `loadgen --labels` and `simulate` write, and
/// `evaluate` scores the alerts against.
public enum Persona: String, CaseIterable, Sendable {
    /// An ordinary developer: workdays in their time zone, sessions of requests, a share accepted.
    case regular
    /// Heavy and productive: long days, agent runs, outcomes to match. Must not be flagged.
    case powerUser = "power_user"
    /// A regular with one legitimate burst day full of accepted work. Must not be flagged.
    case crunch
    /// A service account: `svc-*` / `*-bot` names, or a person-like name whose events say `source: ci`.
    case service
    /// A regular who inflates one day with hours of huge requests and nothing to show (`volume_spike`).
    case spiker
    /// A regular who pads every workday with huge contexts, far above the team (`peer_outlier`).
    case inflater
    /// Agent loops running for hours with almost nothing accepted (`low_yield`).
    case loopAgent = "loop_agent"
    /// A script sending requests on a near-constant beat under a person's name (`machine_cadence`).
    case metronome
    /// Re-sends a few prompts over and over (`duplicate_prompts`).
    case replayer
    /// Quiet all week, then a token burst in the hours before the weekly cutoff (`leaderboard_sprint`).
    case sprinter
    /// One to three tiny requests in the week to count as an adopter (`mandate_minimum`).
    case padder

    /// Whether the persona games the numbers (a detection target) rather than uses AI legitimately.
    public var isGaming: Bool {
        switch self {
        case .regular, .powerUser, .crunch, .service: false
        default: true
        }
    }

    /// The rule built to catch this persona, if it is a gaming one.
    public var targetRule: String? {
        switch self {
        case .spiker: "volume_spike"
        case .inflater: "peer_outlier"
        case .loopAgent: "low_yield"
        case .metronome: "machine_cadence"
        case .replayer: "duplicate_prompts"
        case .sprinter: "leaderboard_sprint"
        case .padder: "mandate_minimum"
        default: nil
        }
    }

    /// Share of a `mixed` population (legitimate 78%, each gaming persona a little over 3%).
    var mixedShare: Double {
        switch self {
        case .regular: 0.60
        case .powerUser: 0.08
        case .crunch: 0.05
        case .service: 0.05
        default: 0.22 / 7
        }
    }
}
