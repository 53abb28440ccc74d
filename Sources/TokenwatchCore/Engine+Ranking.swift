// Boards in time proportional to what changed: each window's `BoardRanking` follows the users whose
// figures changed since the last snapshot time (the windows record them as buckets enter, leave or
// receive events; the rules' step and the known-users window add theirs), and only the scopes they
// touch get new partial boards.

extension Engine {
    /// One scope's partial board as last built, with its candidates' users, so the entries of users that
    /// did not change are reused instead of built again (each entry allocates its strings and flags).
    struct ScopeBoard: Sendable {
        var partial: PartialBoard
        var users: [UInt32]
    }

    /// What one window's board reads of each user, copied out of the engine so the ranking can be
    /// updated in place while it reads them.
    struct StandingReader: StandingSource {
        let window: SlidingWindow
        let knownEvents: [Int64]
        let suspicion: [Double]
        let detector: Detector
        let rankBy: RankBy
        let unassigned: UInt32

        /// The user's standing on the window's boards; nil when not active in the window.
        @inline(__always) func standing(_ user: UInt32) -> BoardRanking.Standing? {
            let u = Int(user)
            guard u < window.events.count, window.events[u] > 0 else { return nil }
            let s = suspicion[u]
            return BoardRanking.Standing(team: window.team(of: user) ?? unassigned,
                                         value: Engine.rankValue(rankBy, user: u, window: window, suspicion: s),
                                         real: detector.isReal(user, suspicion: s),
                                         extraKnown: !(u < knownEvents.count && knownEvents[u] > 0))
        }
    }

    /// The value a board ranks user `u` of window `w` by.
    @inline(__always) static func rankValue(_ rankBy: RankBy, user u: Int, window w: SlidingWindow, suspicion s: Double) -> Int64 {
        switch rankBy {
        case .tokens: return w.tokens[u]
        case .effectiveTokens: return effectiveTokens(w.tokens[u], suspicion: s)
        case .outcomes: return w.outcomes[u]
        }
    }

    /// Turns on the change records the rankings read (after `init` and after a restore replaced the windows).
    mutating func trackChangedUsers() {
        for i in windows.indices { windows[i].tracksChangedUsers = true }
        known.tracksChangedUsers = true
    }

    /// Every ranking starts again (with the current `top_k`): the next snapshot rebuilds every board.
    mutating func resetRankings() {
        rankings = windows.map { _ in BoardRanking(k: configuration.topK) }
        scopePartials = windows.map { _ in [] }
    }

    /// Brings window `i`'s ranking up to date with the users changed since the last snapshot time.
    mutating func updateRanking(window i: Int) {
        if cachedPartials[i] == nil { rankings[i].invalidate() }
        // A rebuild follows a change not told user by user (a reload, a forgotten user): no entry is reused.
        if !rankings[i].valid { scopePartials[i] = [] }
        let reader = StandingReader(window: windows[i], knownEvents: known.events, suspicion: suspicion, detector: detector,
                                    rankBy: configuration.rankBy, unassigned: unassignedTeam)
        let users = self.users, teamCount = teams.count
        users.withLess { less in
            rankings[i].update(changed: windows[i].changedUsers, isChanged: windows[i].isChangedUser, active: windows[i].active,
                               teamCount: teamCount, standing: reader, less: less)
        }
    }

    /// Window `i`'s partial boards after `updateRanking`: the touched scopes' boards are built again, the
    /// others reused; nil when no scope was touched and the cached ones stand.
    mutating func rankedPartials(window i: Int) -> [PartialBoard]? {
        let touched = rankings[i].takeTouched()
        if touched.isEmpty, cachedPartials[i] != nil { return nil }
        let scopeCount = rankings[i].scopes.count
        if scopePartials[i].count < scopeCount {
            scopePartials[i].append(contentsOf: repeatElement(nil, count: scopeCount - scopePartials[i].count))
        }
        for s in touched { refreshScopeBoard(window: i, scope: s) }
        var partials: [PartialBoard] = []
        partials.reserveCapacity(scopeCount)
        for s in 0..<scopeCount where s == 0 || isPresent(window: i, scope: s) {
            if scopePartials[i][s] == nil { refreshScopeBoard(window: i, scope: s) }
            partials.append(scopePartials[i][s].unsafelyUnwrapped.partial)
        }
        return partials
    }

    /// Whether a team's board is published: it has a known or an active user.
    func isPresent(window i: Int, scope s: Int) -> Bool {
        rankings[i].scopes[s].active > 0 || knownPerTeam[UInt32(s - 1)] != nil
    }

    /// Builds scope `s`'s board of window `i` again, moving the previous one out (no copy) to reuse its entries.
    mutating func refreshScopeBoard(window i: Int, scope s: Int) {
        let previous = scopePartials[i][s].take()
        scopePartials[i][s] = scopeBoard(window: i, scope: s, previous: previous)
    }

    /// The partial board of one scope of window `i`, from its ranking. An entry of `previous` is reused for a
    /// user not changed since: any change of a listed user touches the scope, so its last build saw the user as is.
    func scopeBoard(window i: Int, scope s: Int, previous: ScopeBoard?) -> ScopeBoard {
        let w = windows[i]
        let isChanged = w.isChangedUser
        let scope = rankings[i].scopes[s]
        let known = s == 0 ? self.known.active.count : knownPerTeam[UInt32(s - 1)] ?? 0
        if let previous, Self.holds(previous, top: rankings[i].top(s), isChanged: isChanged, active: scope.active,
                                    known: known + scope.extraKnown, effective: scope.effective) {
            return previous
        }
        var candidates: [PartialBoard.Candidate] = []
        var users: [UInt32] = []
        candidates.reserveCapacity(rankings[i].k)
        users.reserveCapacity(rankings[i].k)
        for c in rankings[i].top(s) {
            let u = Int(c.user)
            let e: LeaderboardEntry
            if let previous, !(u < isChanged.count && isChanged[u]), let j = previous.users.firstIndex(of: c.user) {
                e = previous.partial.candidates[j].entry
            } else {
                e = entry(rank: 0, user: c.user, window: w)
            }
            candidates.append(PartialBoard.Candidate(value: c.value, entry: e))
            users.append(c.user)
        }
        let name = previous?.partial.scope ?? (s == 0 ? "global" : "team:" + teams.string(UInt32(s - 1)))
        let partial = PartialBoard(window: w.spec.name, scope: name, candidates: candidates, activeUsers: scope.active,
                                   knownUsers: known + scope.extraKnown, effectiveActiveUsers: scope.effective)
        return ScopeBoard(partial: partial, users: users)
    }

    /// Whether a scope's board as last built still stands: the same users with the same values on top,
    /// none of them changed since, and the same counts.
    static func holds(_ board: ScopeBoard, top: ArraySlice<BoardRanking.Candidate>, isChanged: [Bool],
                      active: Int, known: Int, effective: Int) -> Bool {
        let p = board.partial
        guard p.activeUsers == active, p.knownUsers == known, p.effectiveActiveUsers == effective,
              board.users.count == top.count else { return false }
        for (j, c) in top.enumerated() {
            let u = Int(c.user)
            if board.users[j] != c.user || p.candidates[j].value != c.value || (u < isChanged.count && isChanged[u]) { return false }
        }
        return true
    }

    /// Users whose flags or suspicion the rules' step changed are changed users of every window; a change
    /// the rules do not attribute to users (new rule settings, a forgotten user) rebuilds every board.
    mutating func takeRuleChanges() {
        if detector.changed {
            if detector.changedUsers.isEmpty {
                for i in rankings.indices { rankings[i].invalidate() }
            }
            for u in detector.changedUsers {
                for i in windows.indices { windows[i].markChanged(u) }
            }
        }
        detector.changedUsers.removeAll(keepingCapacity: true)
        detector.changed = false
    }

    /// Follows the known-users window's changed users: the per-team known counts by deltas, the team
    /// boards whose count moved, and (in every window) the users whose being known changed.
    mutating func applyKnownChanges() {
        for user in known.changedUsers {
            let u = Int(user)
            if u >= knownTeamCounted.count {
                knownTeamCounted.append(contentsOf: repeatElement(-1, count: u - knownTeamCounted.count + 1))
            }
            let before = knownTeamCounted[u]
            let now: Int32 = known.events[u] > 0 ? Int32(known.team(of: user) ?? unassignedTeam) : -1
            guard before != now else { continue }
            knownTeamCounted[u] = now
            if before >= 0 { countKnown(team: UInt32(before), -1) }
            if now >= 0 { countKnown(team: UInt32(now), 1) }
            for i in rankings.indices {
                if before >= 0 { rankings[i].touch(team: UInt32(before)) }
                if now >= 0 { rankings[i].touch(team: UInt32(now)) }
                if (before < 0) != (now < 0) {
                    rankings[i].touchGlobal()
                    windows[i].markChanged(user)
                }
            }
        }
        known.clearChangedUsers()
    }

    /// A team present in `knownPerTeam` has at least one known user.
    private mutating func countKnown(team t: UInt32, _ delta: Int) {
        let n = (knownPerTeam[t] ?? 0) + delta
        knownPerTeam[t] = n > 0 ? n : nil
    }

    /// Counts the known users per team from scratch (after a restore, or forgetting a user).
    mutating func recountKnown() {
        knownPerTeam = [:]
        knownTeamCounted = Array(repeating: -1, count: users.count)
        for u in known.active {
            let team = known.team(of: u) ?? unassignedTeam
            knownPerTeam[team, default: 0] += 1
            knownTeamCounted[Int(u)] = Int32(team)
        }
        known.clearChangedUsers()
    }
}
