/// The people expected to use AI tools, with their teams: the adoption denominator (`roster.file`).
public struct Roster: Sendable, Equatable {
    /// Person → team.
    public private(set) var teams: [String: String] = [:]
    /// People per team.
    public private(set) var sizes: [String: Int] = [:]

    public init() {}

    public var count: Int { teams.count }

    /// Adds a person; returns the team they were already listed with, when another one (the caller's error).
    @discardableResult
    public mutating func add(person: String, team: String) -> String? {
        if let existing = teams[person] { return existing == team ? nil : existing }
        teams[person] = team
        sizes[team, default: 0] += 1
        return nil
    }

    /// The roster people among one window's active users, per scope (`global`, `team:<roster team>`);
    /// active people off the roster are counted apart. Users are disjoint across engine shards, so the
    /// tallies of several shards add up (`RosterTally.+`).
    public func tally(active: some Sequence<(user: String, effective: Bool)>) -> [String: RosterTally] {
        var out: [String: RosterTally] = ["global": RosterTally()]
        for (user, effective) in active {
            guard let team = teams[user] else {
                out["global", default: RosterTally()].offRoster += 1
                continue
            }
            for scope in ["global", "team:" + team] {
                out[scope, default: RosterTally()].active += 1
                if effective { out[scope, default: RosterTally()].effective += 1 }
            }
        }
        return out
    }

    /// The boards of one snapshot time with the roster as the denominator: `known_users` is the roster
    /// (its team's part on a team board), `active_users` and the ratios count roster people only, and
    /// `off_roster_active_users` the active people the roster does not list (global board). `tallies`
    /// holds, per window name, `tally(active:)` of that window. Entries are left as they are.
    public func apply(to boards: [LeaderboardSnapshot], tallies: [String: [String: RosterTally]]) -> [LeaderboardSnapshot] {
        boards.map { board in
            var b = board
            let t = tallies[board.window]?[board.scope] ?? RosterTally()
            let known = board.scope == "global" ? count : sizes[String(board.scope.dropFirst("team:".count))] ?? 0
            b.adoption.knownUsers = known
            b.adoption.activeUsers = t.active
            b.adoption.effectiveActiveUsers = t.effective
            b.adoption.offRosterActiveUsers = board.scope == "global" ? t.offRoster : nil
            return b
        }
    }
}

/// Active people of one scope and window, split by the roster.
public struct RosterTally: Sendable, Equatable {
    /// Roster people with activity.
    public var active = 0
    /// Of those, the ones whose activity is not judged gaming (the effective ratio's numerator).
    public var effective = 0
    /// Active people the roster does not list.
    public var offRoster = 0

    public init(active: Int = 0, effective: Int = 0, offRoster: Int = 0) {
        self.active = active
        self.effective = effective
        self.offRoster = offRoster
    }

    /// The tallies of two shards (disjoint users).
    public static func + (a: RosterTally, b: RosterTally) -> RosterTally {
        RosterTally(active: a.active + b.active, effective: a.effective + b.effective, offRoster: a.offRoster + b.offRoster)
    }
}
