/// One window's boards kept ranked between snapshot times, so a snapshot costs what changed plus k,
/// not a pass over every user of the window.
///
/// Per scope (global, then each team by interned id) it keeps `list`: users best first, at most
/// `capacity` of them, with the invariant that every active user of the scope not in `list` ranks after
/// its last member, or `complete` (it holds every active user of the scope). Its first `k` are then the
/// exact top k as long as it holds at least `k` users. At a snapshot the users whose figures changed
/// leave the lists of the scopes they touch, and come back where they now rank when that is provably
/// before the last member; a scope left with fewer than `k` provably ranked users is rebuilt from the
/// window's active users. Adoption counts follow the same changed users by deltas.
///
/// Derived state: never checkpointed; after a restore or a reload it starts `invalid` and the first
/// snapshot rebuilds it.
struct BoardRanking: Sendable {
    /// A user with the value it is ranked by.
    struct Candidate: Sendable, Equatable {
        var value: Int64
        var user: UInt32
    }

    /// What the board of one window says about one active user.
    struct Standing: Sendable {
        var team: UInt32
        var value: Int64
        /// Counts in `effective_active_ratio` (`Detector.isReal`).
        var real: Bool
        /// Active in the window but not (yet) in the known-users window.
        var extraKnown: Bool
    }

    /// One scope's ranked users and adoption counts.
    struct Scope: Sendable {
        var list: [Candidate] = []
        /// `list` holds every active user of the scope.
        var complete = true
        var active = 0
        var effective = 0
        var extraKnown = 0
        /// Changed users that now rank before the last member of `list`, to merge in.
        var arrivals: [Candidate] = []
        /// Touched since the owner last took the touched scopes (its board must be built again).
        var touched = false
        var needsRebuild = false
    }

    let k: Int
    /// Users kept per scope: k plus a margin, so members falling out do not force a rebuild. A margin of 4k
    /// rebuilds the 1h board of 100k users (`bench`) about once in 80 snapshot times; one of k, once in 15.
    let capacity: Int
    /// False until the first build, and after anything that changes every board (reload, forget).
    private(set) var valid = false
    /// Scope 0 is global; scope `t + 1` is team `t`.
    private(set) var scopes: [Scope] = [Scope()]
    /// Scope indices touched since the last `takeTouched()`, each once.
    private var touchedList: [Int] = []
    /// Per user: the scope the user is counted in (0: none, not active) and what was counted.
    private var countedScope: [Int32] = []
    private var countedReal: [Bool] = []
    private var countedExtraKnown: [Bool] = []
    /// Reused between snapshots: standings of the changed users, and a merge buffer.
    private var standings: [(user: UInt32, standing: Standing?)] = []
    private var scratch: [Candidate] = []
    /// Full rebuilds of a scope since the start (diagnostics for tests and the benchmark).
    private(set) var rebuilds = 0

    init(k: Int) {
        self.k = max(k, 0)
        capacity = self.k + max(4 * self.k, 32)
    }

    /// The scope index of team `t`.
    @inline(__always) static func scope(ofTeam t: UInt32) -> Int { Int(t) + 1 }

    /// Drops everything: the next `update` rebuilds every scope.
    mutating func invalidate() { valid = false }

    /// Marks a team's board to be built again (its known-users count changed).
    mutating func touch(team t: UInt32) { touch(Self.scope(ofTeam: t)) }

    /// Marks the global board to be built again.
    mutating func touchGlobal() { touch(0) }

    private mutating func touch(_ s: Int) {
        ensureScope(s)
        if !scopes[s].touched {
            scopes[s].touched = true
            touchedList.append(s)
        }
    }

    private mutating func ensureScope(_ s: Int) {
        if s >= scopes.count { scopes.append(contentsOf: repeatElement(Scope(), count: s - scopes.count + 1)) }
    }

    private mutating func ensureUser(_ u: Int) {
        if u >= countedScope.count {
            let extra = u - countedScope.count + 1
            countedScope.append(contentsOf: repeatElement(0, count: extra))
            countedReal.append(contentsOf: repeatElement(false, count: extra))
            countedExtraKnown.append(contentsOf: repeatElement(false, count: extra))
        }
    }

    /// The scopes touched since the last call, and clears their marks. All of them after a rebuild.
    mutating func takeTouched() -> [Int] {
        let taken = touchedList
        for s in touchedList { scopes[s].touched = false }
        touchedList.removeAll(keepingCapacity: true)
        return taken
    }

    /// The exact top k of scope `s`, best first.
    func top(_ s: Int) -> ArraySlice<Candidate> { scopes[s].list.prefix(k) }
}

extension BoardRanking {
    /// Brings every scope up to date with `changed` (each user once; `isChanged` is true exactly for them),
    /// given each user's current standing (nil: not active in the window). Without a valid ranking, or
    /// when a scope can no longer prove its top k, it reads every user of `active`.
    mutating func update<Source: StandingSource>(changed: [UInt32], isChanged: [Bool], active: [UInt32], teamCount: Int,
                                                 standing: Source, less: (UInt32, UInt32) -> Bool) {
        ensureScope(teamCount)
        guard valid else { return rebuildAll(active: active, teamCount: teamCount, standing: standing, less: less) }
        guard !changed.isEmpty else { return }
        readStandings(changed, standing)
        for s in touchedList { removeChanged(from: s, isChanged: isChanged) }
        for (user, now) in standings { recount(user, now, less: less) }
        var rebuild = false
        for s in touchedList {
            mergeArrivals(s, less: less)
            if scopes[s].needsRebuild { rebuild = true }
        }
        if rebuild { rebuildMarked(active: active, standing: standing, less: less) }
    }

    /// Reads the standing of every changed user, and touches the scopes each was and is in.
    private mutating func readStandings<Source: StandingSource>(_ changed: [UInt32], _ source: Source) {
        standings.removeAll(keepingCapacity: true)
        touch(0)
        for u in changed {
            ensureUser(Int(u))
            let now = source.standing(u)
            standings.append((u, now))
            let before = Int(countedScope[Int(u)])
            if before > 0 { touch(before) }
            if let now { touch(Self.scope(ofTeam: now.team)) }
        }
    }

    /// Takes the changed users out of scope `s`'s list: the others keep their order and the invariant.
    /// A plain loop over the flags' buffer: `removeAll(where:)` with a closure over `isChanged` retained and
    /// released the array for every member (two thirds of this type's instructions with 100k users).
    private mutating func removeChanged(from s: Int, isChanged: [Bool]) {
        var list: [Candidate] = []
        swap(&list, &scopes[s].list)
        isChanged.withUnsafeBufferPointer { flags in
            var kept = 0
            for j in list.indices {
                let u = Int(list[j].user)
                if !(u < flags.count && flags[u]) {
                    list[kept] = list[j]
                    kept += 1
                }
            }
            list.removeLast(list.count - kept)
        }
        swap(&list, &scopes[s].list)
    }

    /// Moves one changed user's counts from the scope it was counted in to the one it is in now, and
    /// queues it for the lists it provably belongs to.
    private mutating func recount(_ user: UInt32, _ now: Standing?, less: (UInt32, UInt32) -> Bool) {
        let u = Int(user)
        let before = Int(countedScope[u])
        if before > 0 {
            count(before, sign: -1, real: countedReal[u], extraKnown: countedExtraKnown[u])
        }
        guard let now else {
            countedScope[u] = 0
            return
        }
        let s = Self.scope(ofTeam: now.team)
        countIn(s, user, now)
        let c = Candidate(value: now.value, user: user)
        offer(c, to: 0, less: less)
        offer(c, to: s, less: less)
    }

    /// Counts an active user in scope `s` (and the global scope), remembering what was counted.
    private mutating func countIn(_ s: Int, _ user: UInt32, _ now: Standing) {
        let u = Int(user)
        ensureUser(u)
        ensureScope(s)
        countedScope[u] = Int32(s)
        countedReal[u] = now.real
        countedExtraKnown[u] = now.extraKnown
        count(s, sign: 1, real: now.real, extraKnown: now.extraKnown)
    }

    /// Adds (`sign` 1) or removes (-1) one user in the counts of scope `s` and of the global scope.
    private mutating func count(_ s: Int, sign: Int, real: Bool, extraKnown: Bool) {
        let effective = real ? sign : 0, extra = extraKnown ? sign : 0
        scopes[0].active += sign; scopes[0].effective += effective; scopes[0].extraKnown += extra
        scopes[s].active += sign; scopes[s].effective += effective; scopes[s].extraKnown += extra
    }

    /// Queues `c` for scope `s` when it provably ranks among the listed users.
    private mutating func offer(_ c: Candidate, to s: Int, less: (UInt32, UInt32) -> Bool) {
        if scopes[s].complete {
            scopes[s].arrivals.append(c)
        } else if let last = scopes[s].list.last, Self.ranksBefore(c, last, less) {
            scopes[s].arrivals.append(c)
        }
    }

    /// Merges the queued arrivals into scope `s`'s list, keeps at most `capacity`, and marks the scope
    /// for a rebuild when fewer than k users remain provably ranked.
    private mutating func mergeArrivals(_ s: Int, less: (UInt32, UInt32) -> Bool) {
        if !scopes[s].arrivals.isEmpty {
            scopes[s].arrivals.sort { Self.ranksBefore($0, $1, less) }
            scratch.removeAll(keepingCapacity: true)
            let list = scopes[s].list, arrivals = scopes[s].arrivals
            var i = 0, j = 0
            while scratch.count < capacity && (i < list.count || j < arrivals.count) {
                if j == arrivals.count || (i < list.count && Self.ranksBefore(list[i], arrivals[j], less)) {
                    scratch.append(list[i]); i += 1
                } else {
                    scratch.append(arrivals[j]); j += 1
                }
            }
            if i < list.count || j < arrivals.count { scopes[s].complete = false }
            swap(&scopes[s].list, &scratch)
            scopes[s].arrivals.removeAll(keepingCapacity: true)
        }
        scopes[s].needsRebuild = !scopes[s].complete && scopes[s].list.count < k
    }

    /// Higher value first; ties by user id, byte-wise (`Interner.less`), as `TopK` and `BoardMerge` order them.
    @inline(__always) static func ranksBefore(_ a: Candidate, _ b: Candidate, _ less: (UInt32, UInt32) -> Bool) -> Bool {
        if a.value != b.value { return a.value > b.value }
        return less(a.user, b.user)
    }
}

extension BoardRanking {
    /// Builds every scope from the window's active users: the first snapshot, and after `invalidate()`.
    private mutating func rebuildAll<Source: StandingSource>(active: [UInt32], teamCount: Int, standing: Source,
                                                             less: (UInt32, UInt32) -> Bool) {
        for s in scopes.indices {
            scopes[s] = Scope()
            scopes[s].needsRebuild = true
        }
        for u in countedScope.indices { countedScope[u] = 0 }
        rebuildMarked(active: active, recounting: true, standing: standing, less: less)
        touchedList.removeAll(keepingCapacity: true)
        for s in scopes.indices {
            scopes[s].touched = true
            touchedList.append(s)
        }
        valid = true
    }

    /// Rebuilds the lists of the scopes marked `needsRebuild` in one pass over the active users; with
    /// `recounting`, counts every user too (else the counts are already current).
    private mutating func rebuildMarked<Source: StandingSource>(active: [UInt32], recounting: Bool = false, standing: Source,
                                                                less: (UInt32, UInt32) -> Bool) {
        let marked = scopes.indices.filter { scopes[$0].needsRebuild }
        var tops = [TopK?](repeating: nil, count: scopes.count)
        for s in marked { tops[s] = TopK(k: capacity) }
        for user in active {
            guard let now = standing.standing(user) else { continue }
            let s = Self.scope(ofTeam: now.team)
            if recounting { countIn(s, user, now) }
            let c = (value: now.value, user: user)
            tops[0]?.offer(c, less)
            if s < tops.count { tops[s]?.offer(c, less) }
        }
        for s in marked {
            scopes[s].list = tops[s]!.sorted(less).map { Candidate(value: $0.value, user: $0.user) }
            scopes[s].complete = scopes[s].list.count == scopes[s].active
            scopes[s].needsRebuild = false
            rebuilds += 1
        }
    }
}

/// What a ranking reads of each user: the standing on its window's boards, nil when not active there.
/// A generic parameter rather than a closure, so the reads are specialised and inlined: a closure over
/// the engine's arrays copied and destroyed its context on every call (2.4 G of 3.5 G instructions).
protocol StandingSource {
    func standing(_ user: UInt32) -> BoardRanking.Standing?
}
