// Forgetting a person: their counts, rule state, open alerts and queued events go; their next event
// starts them afresh. The input topic still holds what they sent (its retention governs that), and
// the id string stays interned (without any figure) until the state is rebuilt from the input.

extension Engine {
    /// Drops everything held about `userId`; false when the engine holds nothing of them. Boards change
    /// at the next snapshot time; an open alert of theirs ends without a resolved message.
    public mutating func forget(_ userId: String) -> Bool {
        var name = userId
        guard let u = name.withUTF8({ users.lookup(UnsafeRawBufferPointer($0)) }) else { return false }
        for i in windows.indices { windows[i].forget(user: u) }
        for i in unreported.indices { unreported[i].forget(user: u) }
        known.forget(user: u)
        recountKnown()
        known.changed = true
        detector.forget(user: u)
        if Int(u) < suspicion.count { suspicion[Int(u)] = 0 }
        for id in partitions.keys {
            partitions.withState(id) { state in
                state.pending = Array(state.pending[state.pendingHead...]).filter { $0.user != u }
                state.pendingHead = 0
            }
        }
        forwardedPending.removeAll { $0.user == u }
        cachedPartials = Array(repeating: nil, count: windows.count)
        return true
    }
}

extension ShardedEngine {
    /// Drops everything held about `userId` in every shard (see `Engine.forget`).
    public mutating func forget(_ userId: String) -> Bool {
        var found = false
        for i in shards.indices where shards[i].forget(userId) { found = true }
        if found { cachedBoards = Array(repeating: [], count: cachedBoards.count) }
        return found
    }
}

extension SlidingWindow {
    /// Removes every bucket of `user` and their totals (the calendar's mentions of them are skipped later).
    mutating func forget(user: UInt32) {
        let u = Int(user)
        guard u < hot.count else { return }
        for e in entries(of: u) where e.bucket >= start && e.bucket < end {
            removeFromTotals(u, tokens: e.tokens, events: Int64(e.events), outcomes: Int64(e.outcomes))
        }
        hot[u] = .none
        cold[u] = []
        previous[u] = (Int64.min, 0)
        changed = true
    }
}

extension Detector {
    /// Drops the user's rule state, queued findings, open alerts, their persistence and week tallies.
    mutating func forget(user u: UInt32) {
        let i = Int(u)
        guard i < signals.count else { return }
        signals[i] = UserSignals()
        for k in 0..<DuplicatePromptsRule.recent { prompts[i * DuplicatePromptsRule.recent + k] = 0 }
        queue.removeAll { $0.user == u }
        for rule in RuleKind.byIndex {
            open[Self.key(u, rule)] = nil
            persistence[Self.key(u, rule)] = nil
        }
        for w in weeks.indices where i < weeks[w].events.count {
            weeks[w].tokens[i] = 0; weeks[w].events[i] = 0; weeks[w].outcomes[i] = 0
            weeks[w].lateTokens[i] = 0; weeks[w].lateOutcomes[i] = 0
        }
        changed = true
    }
}
