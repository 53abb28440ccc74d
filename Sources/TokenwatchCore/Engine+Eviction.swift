// Users silent for longer than the known-users window give their id back: every per-user slot is reset
// and the interner hands the id to the next new user, so memory follows the people active in the
// longest window rather than everyone ever seen. A user who comes back later starts afresh (their rule
// baselines too), as someone new would.

extension Engine {
    /// Makes every window report the users whose last bucket leaves it (`releaseVacatedUsers` reads them):
    /// for a new engine, and for a restored one once its windows have been read.
    mutating func trackVacatedUsers() {
        known.tracksVacated = true
        for i in windows.indices {
            windows[i].tracksVacated = true
            unreported[i].tracksVacated = true
        }
    }

    /// Releases the ids of the users who, at this snapshot, left a window that held a bucket of theirs,
    /// or saw an alert resolve, persistence expire or their week close, and now hold nothing at all: no
    /// bucket, no week tally, no queued finding or late event, no open alert, no persistence. Runs after
    /// the snapshot's boards, which have already taken these users out of every ranking. (Someone held
    /// only by a queued finding or late event is kept until they leave again.)
    mutating func releaseVacatedUsers() {
        var candidates = known.takeVacated() + detector.letGo
        detector.letGo.removeAll(keepingCapacity: true)
        for i in windows.indices { candidates += windows[i].takeVacated() + unreported[i].takeVacated() }
        // Most candidates left a short window and are still in the known-users one: the cheap checks first,
        // and the queues are only scanned when someone is left.
        let vacant = Set(candidates).filter { u in
            !users.isFree(u) && known.holdsNothing(of: u) && windows.allSatisfy({ $0.holdsNothing(of: u) })
                && unreported.allSatisfy({ $0.holdsNothing(of: u) }) && detector.holdsNothing(of: u)
        }
        guard !vacant.isEmpty else { return }
        var waiting = Set<UInt32>()
        for p in partitions.values { for e in p.pending[p.pendingHead...] { waiting.insert(e.user) } }
        for e in forwardedPending { waiting.insert(e.user) }
        for f in detector.queue { waiting.insert(f.user) }
        for u in vacant where !waiting.contains(u) { release(user: u) }
    }

    /// Resets every per-user slot of `u` and frees its id.
    private mutating func release(user u: UInt32) {
        for i in windows.indices { windows[i].reset(user: u) }
        for i in unreported.indices { unreported[i].reset(user: u) }
        known.reset(user: u)
        detector.reset(user: u)
        let i = Int(u)
        suspicion[i] = 0
        userIsService[i] = false
        if i < knownTeamCounted.count { knownTeamCounted[i] = -1 }
        users.release(u)
        counters.releasedUsers += 1
    }
}

extension SlidingWindow {
    /// Whether the window stores nothing of `user` (no bucket, counted or pending).
    func holdsNothing(of user: UInt32) -> Bool {
        let u = Int(user)
        return u >= hot.count || (hot[u].isNone && cold[u].isEmpty && events[u] == 0)
    }

    /// Hands over the users whose last bucket left the window since the last call (`tracksVacated`).
    mutating func takeVacated() -> [UInt32] {
        defer { vacated.removeAll(keepingCapacity: true) }
        return vacated
    }

    /// Puts a released user's slots back as a new user's (`holdsNothing` was true).
    mutating func reset(user: UInt32) {
        let u = Int(user)
        guard u < hot.count else { return }
        previous[u] = (Int64.min, 0)
        cold[u] = []
    }
}

extension Detector {
    /// Whether the rules hold nothing of `u` that a new user under the same id must not inherit.
    func holdsNothing(of u: UInt32) -> Bool {
        let i = Int(u)
        guard i < signals.count else { return true }
        if signals[i].open != 0 { return false }
        for rule in RuleKind.byIndex where open[Self.key(u, rule)] != nil || persistence[Self.key(u, rule)] != nil {
            return false
        }
        return weeks.allSatisfy { i >= $0.events.count || $0.events[i] == 0 }
    }

    /// A released user's signals and prompt fingerprints, as a new user's.
    mutating func reset(user u: UInt32) {
        let i = Int(u)
        guard i < signals.count else { return }
        signals[i] = UserSignals()
        for k in 0..<DuplicatePromptsRule.recent { prompts[i * DuplicatePromptsRule.recent + k] = 0 }
    }
}
