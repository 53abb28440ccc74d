/// Robust per-team statistics of one window, for the rules that compare a user with their team
/// (`peer_outlier`, `low_yield`). Built at a snapshot boundary from the window's exact totals, so it
/// depends only on event time, never on how partitions interleave.
struct PeerStatistics {
    struct Group {
        var members: [UInt32] = []
        var medianTokens = 0.0
        /// Median absolute deviation of the members' tokens.
        var mad = 0.0
        /// Median outcomes per token over members with tokens.
        var medianYield = 0.0
    }

    var groups: [UInt32: Group] = [:]
    var globalMedianYield = 0.0
    var activeUsers = 0

    init(window w: SlidingWindow, unassigned: UInt32) {
        for u in w.active {
            groups[w.team(of: u) ?? unassigned, default: Group()].members.append(u)
        }
        activeUsers = w.active.count
        var allYields: [Double] = []
        allYields.reserveCapacity(w.active.count)
        for (team, var g) in groups {
            var tokens = g.members.map { Double(w.tokens[Int($0)]) }
            g.medianTokens = Self.median(&tokens)
            var deviations = tokens.map { abs($0 - g.medianTokens) }
            g.mad = Self.median(&deviations)
            var yields = g.members.compactMap { u -> Double? in
                let t = w.tokens[Int(u)]
                return t > 0 ? Double(w.outcomes[Int(u)]) / Double(t) : nil
            }
            allYields.append(contentsOf: yields)
            g.medianYield = Self.median(&yields)
            groups[team] = g
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

/// How a boundary-evaluated rule reports a user: the team named is the one the window gives.
struct PeerFinding {
    var user: UInt32
    var team: UInt32
    var score: Double
    var evidence: Evidence
}
