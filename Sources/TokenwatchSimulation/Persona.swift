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

    // The extended population (`--scenario extended`): gamers who try not to get caught, and
    // legitimate people who look suspicious.

    /// A script with memoryless (random) gaps in working hours, varied sizes and fresh prompts.
    case randomScript = "random_script"
    /// Re-asks the same thing with a new prompt hash each time (paraphrasing).
    case paraphraser
    /// A real developer's week plus a few needless agent sessions on top.
    case partialInflater = "partial_inflater"
    /// One of a small team that games together, so the team's own median is inflated.
    case teamGamer = "team_gamer"
    /// Agent loops whose steps are mostly marked accepted with one line added.
    case fakeAccepter = "fake_accepter"
    /// A sprint spread over the last day or so before the weekly cutoff.
    case slowSprinter = "slow_sprinter"
    /// A little more than the padding threshold: a handful of tiny requests.
    case hugger
    /// Legitimate: a regular with one night of heavy accepted work at 1–5 am, sometimes just before the cutoff.
    case incidentNight = "incident_night"
    /// Legitimate: ramps from almost nothing to heavy use within the week.
    case newHire = "new_hire"
    /// Legitimate: reads and asks (review, understanding code): about twice a regular's volume, rarely
    /// accepting, often through a tool that reports no outcome.
    case reader

    /// Whether the persona games the numbers (a detection target) rather than uses AI legitimately.
    public var isGaming: Bool {
        switch self {
        case .regular, .powerUser, .crunch, .service, .incidentNight, .newHire, .reader: false
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
        case .padder, .hugger: "mandate_minimum"
        case .randomScript: "machine_cadence"
        case .paraphraser: "duplicate_prompts"
        case .partialInflater, .fakeAccepter: "hollow_outcomes"
        case .teamGamer: "peer_outlier"
        case .slowSprinter: "leaderboard_sprint"
        default: nil
        }
    }

    /// Whether the persona belongs to the extended population only.
    var isExtended: Bool { Persona.allCases.firstIndex(of: self)! > Persona.allCases.firstIndex(of: .padder)! }

    /// Share of a `mixed` population (legitimate 78%, each gaming persona a little over 3%; none of
    /// the extended personas, so `mixed` stays the population it always was).
    var mixedShare: Double {
        switch self {
        case .regular: 0.60
        case .powerUser: 0.08
        case .crunch: 0.05
        case .service: 0.05
        default: isExtended ? 0 : 0.22 / 7
        }
    }

    /// Share of an `extended` population: legitimate 78% (traps included), 22% over the 14 gaming personas.
    var extendedShare: Double {
        switch self {
        case .regular: 0.50
        case .powerUser: 0.07
        case .crunch, .service: 0.04
        case .incidentNight, .newHire: 0.03
        case .reader: 0.07
        default: 0.22 / 14
        }
    }
}
