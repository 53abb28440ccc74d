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
        /// Tokens of events whose tool reported no outcome (their outcomes are unknown, not zero).
        public var unreported: Int64 = 0

        /// Outcomes per reported token, or nil when most of the member's usage reports no outcome.
        public var yield: Double? {
            let reported = tokens - unreported
            guard reported > 0, 2 * reported >= tokens else { return nil }
            return Double(outcomes) / Double(reported)
        }
    }

    /// Team name → members.
    public var teams: [String: [Member]] = [:]
    /// For the week closing at a cutoff (`PeerSample.week`): each active user's requests and tokens.
    public var week: [WeekMember] = []

    /// One active user's totals in a leaderboard week.
    public struct WeekMember: Sendable, Equatable {
        public var events: Int64
        public var tokens: Int64
        /// Tokens in the sprint window before the cutoff (`leaderboard_sprint`).
        public var late: Int64 = 0
    }

    /// The key of the week sample among the windows' samples (windows are numbered from 0).
    public static let week = -1

    public init() {}

    /// The users of one week book.
    init(week book: WeekBook) {
        week = book.active.map { u in
            let i = Int(u)
            return WeekMember(events: Int64(book.events[i]), tokens: book.tokens[i], late: book.lateTokens[i])
        }
    }

    /// The active users of `w`, grouped by the team the window gives them; `unreported` counts the same
    /// window's events without an outcome.
    init(window w: SlidingWindow, unreported: SlidingWindow, teams names: Interner, unassigned: UInt32) {
        var byTeam: [UInt32: [Member]] = [:]
        for u in w.active {
            let i = Int(u)
            let missing = i < unreported.tokens.count ? unreported.tokens[i] : 0
            byTeam[w.team(of: u) ?? unassigned, default: []].append(Member(tokens: w.tokens[i], outcomes: w.outcomes[i], unreported: missing))
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
    /// The organisation's figures, for teams whose own median is itself an outlier: every member's
    /// median tokens and its median absolute deviation, and the median of the team medians (teams of
    /// at least `teamFloor` members).
    public var orgMedianTokens = 0.0
    public var orgMAD = 0.0
    public var medianTeamMedian = 0.0
    /// The week closing at a cutoff: active users, and their median requests and tokens.
    public var weekUsers = 0
    public var weekMedianEvents = 0.0
    public var weekMedianTokens = 0.0
    /// The median share of a user's week in the sprint window: the baseline of users without earlier weeks.
    public var weekMedianLateShare = 0.0
    /// Every active user's week (requests, tokens), sorted: `mandate_minimum` looks for bunching just
    /// above the activity minimum in it.
    public var week: [PeerSample.WeekMember] = []
    /// Teams smaller than this do not enter `medianTeamMedian`.
    public static let teamFloor = 3

    public init(samples: [PeerSample]) {
        var merged: [String: [PeerSample.Member]] = [:]
        for sample in samples {
            for (team, members) in sample.teams { merged[team, default: []].append(contentsOf: members) }
        }
        var allYields: [Double] = [], allTokens: [Double] = [], teamMedians: [Double] = []
        for (team, members) in merged {
            var g = Group(members: members.count)
            var tokens = members.map { Double($0.tokens) }
            allTokens.append(contentsOf: tokens)
            g.medianTokens = Self.median(&tokens)
            var deviations = tokens.map { abs($0 - g.medianTokens) }
            g.mad = Self.median(&deviations)
            var yields = members.compactMap(\.yield)
            allYields.append(contentsOf: yields)
            g.medianYield = Self.median(&yields)
            groups[team] = g
            if members.count >= Self.teamFloor { teamMedians.append(g.medianTokens) }
            activeUsers += members.count
        }
        globalMedianYield = Self.median(&allYields)
        orgMedianTokens = Self.median(&allTokens)
        var deviations = allTokens.map { abs($0 - orgMedianTokens) }
        orgMAD = Self.median(&deviations)
        medianTeamMedian = Self.median(&teamMedians)
        week = samples.flatMap(\.week).sorted { ($0.events, $0.tokens, $0.late) < ($1.events, $1.tokens, $1.late) }
        weekUsers = week.count
        var shares = week.compactMap { $0.tokens > 0 ? Double($0.late) / Double($0.tokens) : nil }
        weekMedianLateShare = Self.median(&shares)
        var events = week.map { Double($0.events) }, weekTokens = week.map { Double($0.tokens) }
        weekMedianEvents = Self.median(&events)
        weekMedianTokens = Self.median(&weekTokens)
    }

    /// Whether a team's own median is an outlier against the organisation: its median tokens at least
    /// `ratio` × the median team's, at a median yield below `yieldRatio` × everyone's. Its members are
    /// then compared with the organisation, not with each other (a team gaming together).
    public func isInflated(_ g: Group, ratio: Double, yieldRatio: Double) -> Bool {
        g.members >= Self.teamFloor && medianTeamMedian > 0 && g.medianTokens >= ratio * medianTeamMedian
            && g.medianYield < yieldRatio * globalMedianYield
    }

    /// The median (mean of the middle two for an even count); reorders `values`. 0 when empty.
    /// By selection, not sorting: a snapshot takes a dozen medians over every active user, and sorting
    /// them was a tenth of the whole run's instructions with 100k users.
    static func median(_ values: inout [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let n = values.count
        return values.withUnsafeMutableBufferPointer { v in
            let upper = Selection.select(n / 2, in: v)
            guard n % 2 == 0 else { return upper }
            // After selecting the middle, the lower half holds the values before it: its largest is the other middle.
            var lower = v[0]
            for i in 1..<(n / 2) where v[i] > lower { lower = v[i] }
            return (lower + upper) / 2
        }
    }
}

/// The k-th smallest value of a buffer in expected linear time (quickselect with a median-of-three
/// pivot; a range that keeps failing to shrink is sorted instead, so the worst case stays n log n).
enum Selection {
    /// Reorders `v` so that `v[k]` is its k-th smallest value (0-based), smaller or equal values before
    /// it and larger or equal after it, and returns that value.
    static func select(_ k: Int, in v: UnsafeMutableBufferPointer<Double>) -> Double {
        precondition(k >= 0 && k < v.count)
        var lo = 0, hi = v.count - 1
        var budget = 2 * (Int.bitWidth - v.count.leadingZeroBitCount) + 4
        while hi > lo {
            if budget == 0 {
                var range = UnsafeMutableBufferPointer(rebasing: v[lo...hi])
                range.sort()
                return v[k]
            }
            budget -= 1
            let mid = lo + (hi - lo) / 2
            // Median of three as the pivot, left at v[mid].
            if v[mid] < v[lo] { v.swapAt(mid, lo) }
            if v[hi] < v[lo] { v.swapAt(hi, lo) }
            if v[hi] < v[mid] { v.swapAt(hi, mid) }
            let pivot = v[mid]
            // Hoare partition: [lo, j] <= pivot <= [i, hi].
            var i = lo, j = hi
            while i <= j {
                while v[i] < pivot { i += 1 }
                while v[j] > pivot { j -= 1 }
                if i <= j {
                    v.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if k <= j { hi = j } else if k >= i { lo = i } else { return v[k] }
        }
        return v[k]
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
    /// The merged figures (organisation-wide ones included).
    var reference: PeerReference
    /// This engine's reported tokens per user (window tokens minus unreported), read through `yield(of:)`.
    var unreported: SlidingWindow

    init(window w: SlidingWindow, unreported: SlidingWindow, reference: PeerReference, teams names: Interner, unassigned: UInt32) {
        globalMedianYield = reference.globalMedianYield
        self.reference = reference
        self.unreported = unreported
        var byTeam: [UInt32: [UInt32]] = [:]
        for u in w.active { byTeam[w.team(of: u) ?? unassigned, default: []].append(u) }
        for (team, members) in byTeam {
            let figures = reference.groups[names.string(team)] ?? PeerReference.Group(members: members.count)
            groups[team] = Group(members: members, reference: figures)
        }
    }
}

extension PeerGroups {
    /// Outcomes per reported token of `u` in window `w`, or nil when most of its usage reports no outcome.
    func yield(of u: UInt32, in w: SlidingWindow) -> Double? {
        let i = Int(u)
        let missing = i < unreported.tokens.count ? unreported.tokens[i] : 0
        return PeerSample.Member(tokens: w.tokens[i], outcomes: w.outcomes[i], unreported: missing).yield
    }
}

/// How a boundary-evaluated rule reports a user: the team named is the one the window gives.
struct PeerFinding {
    var user: UInt32
    var team: UInt32
    var score: Double
    var evidence: Evidence
}
