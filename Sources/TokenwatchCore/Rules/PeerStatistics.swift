/// One engine's share of the peer groups of one window, for the rules that compare a user with
/// their team (`peer_outlier`, `low_yield`): each active member's exact totals, grouped by team name.
///
/// Users are disjoint between engine shards (and instances), so the samples of all shards hold every
/// member exactly once; names rather than interned ids let shards with their own interners combine.
public struct PeerSample: Sendable, Equatable {
    /// One active member's totals in the window.
    public struct Member: Sendable, Equatable {
        public var tokens: Int64
        public var outcomes: Int64
    }

    /// Team name → members.
    public var teams: [String: [Member]] = [:]

    public init() {}

    /// The active users of `w`, grouped by the team the window gives them.
    init(window w: SlidingWindow, teams names: Interner, unassigned: UInt32) {
        var byTeam: [UInt32: [Member]] = [:]
        for u in w.active {
            byTeam[w.team(of: u) ?? unassigned, default: []].append(Member(tokens: w.tokens[Int(u)], outcomes: w.outcomes[Int(u)]))
        }
        for (team, members) in byTeam { teams[names.string(team)] = members }
    }
}

/// Robust per-team statistics of one window, from the samples of every shard: what each user is
/// compared with. Built at a snapshot boundary from the windows' exact totals, so it depends only on
/// event time, never on how partitions interleave or how many shards hold them (medians sort first).
public struct PeerReference: Sendable, Equatable {
    /// One team's figures.
    public struct Group: Sendable, Equatable {
        public var members = 0
        public var medianTokens = 0.0
        /// Median absolute deviation of the members' tokens.
        public var mad = 0.0
        /// Median outcomes per token over members with tokens.
        public var medianYield = 0.0
    }

    /// Team name → figures.
    public var groups: [String: Group] = [:]
    public var globalMedianYield = 0.0
    public var activeUsers = 0

    public init(samples: [PeerSample]) {
        var merged: [String: [PeerSample.Member]] = [:]
        for sample in samples {
            for (team, members) in sample.teams { merged[team, default: []].append(contentsOf: members) }
        }
        var allYields: [Double] = []
        for (team, members) in merged {
            var g = Group(members: members.count)
            var tokens = members.map { Double($0.tokens) }
            g.medianTokens = Self.median(&tokens)
            var deviations = tokens.map { abs($0 - g.medianTokens) }
            g.mad = Self.median(&deviations)
            var yields = members.compactMap { m -> Double? in m.tokens > 0 ? Double(m.outcomes) / Double(m.tokens) : nil }
            allYields.append(contentsOf: yields)
            g.medianYield = Self.median(&yields)
            groups[team] = g
            activeUsers += members.count
        }
        globalMedianYield = Self.median(&allYields)
    }

    /// The median (mean of the middle two for an even count); sorts `values`. 0 when empty.
    static func median(_ values: inout [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        values.sort()
        let n = values.count
        return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2
    }
}

/// This engine's active users of one window by team, with the reference figures of their teams.
struct PeerGroups {
    struct Group {
        var members: [UInt32] = []
        var reference: PeerReference.Group
    }

    var groups: [UInt32: Group] = [:]
    var globalMedianYield: Double

    init(window w: SlidingWindow, reference: PeerReference, teams names: Interner, unassigned: UInt32) {
        globalMedianYield = reference.globalMedianYield
        var byTeam: [UInt32: [UInt32]] = [:]
        for u in w.active { byTeam[w.team(of: u) ?? unassigned, default: []].append(u) }
        for (team, members) in byTeam {
            let figures = reference.groups[names.string(team)] ?? PeerReference.Group(members: members.count)
            groups[team] = Group(members: members, reference: figures)
        }
    }
}

/// How a boundary-evaluated rule reports a user: the team named is the one the window gives.
struct PeerFinding {
    var user: UInt32
    var team: UInt32
    var score: Double
    var evidence: Evidence
}
