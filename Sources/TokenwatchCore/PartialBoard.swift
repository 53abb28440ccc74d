/// One engine shard's share of one board at one snapshot time: its best users and its adoption counts.
///
/// Users are disjoint between shards (a user's events meet in one partition, hence one shard), so the
/// top k of the union of the shards' top k is the exact top k, and the counts add up.
public struct PartialBoard: Sendable, Equatable {
    /// One candidate with the value it is ranked by.
    public struct Candidate: Sendable, Equatable {
        public var value: Int64
        public var entry: LeaderboardEntry
    }

    public var window: String
    public var scope: String
    /// The shard's best `top_k`, best first (ranks not yet assigned).
    public var candidates: [Candidate]
    public var activeUsers: Int
    /// The shard's known users in this scope (those of the known-users horizon, and any active one).
    public var knownUsers: Int
    public var effectiveActiveUsers: Int
}

/// Merges the partial boards of every shard into the published boards.
public enum BoardMerge {
    /// The boards of one window and snapshot time, from each shard's partials of that window: the global
    /// board first, then team boards by scope. `asOf` and the window range are left for the caller.
    public static func merge(_ shards: [[PartialBoard]], window: String, rankBy: RankBy, topK: Int) -> [LeaderboardSnapshot] {
        var byScope: [String: [PartialBoard]] = [:]
        for partials in shards {
            for p in partials { byScope[p.scope, default: []].append(p) }
        }
        var boards: [LeaderboardSnapshot] = []
        if let global = byScope.removeValue(forKey: "global") {
            boards.append(board(global, window: window, scope: "global", rankBy: rankBy, topK: topK))
        }
        for scope in byScope.keys.sorted() {
            boards.append(board(byScope[scope]!, window: window, scope: scope, rankBy: rankBy, topK: topK))
        }
        return boards
    }

    static func board(_ parts: [PartialBoard], window: String, scope: String, rankBy: RankBy, topK: Int) -> LeaderboardSnapshot {
        var candidates = parts.count == 1 ? parts[0].candidates : parts.flatMap(\.candidates)
        if parts.count > 1 {
            candidates.sort(by: ranksBefore)
            if candidates.count > topK { candidates.removeLast(candidates.count - topK) }
        }
        var entries: [LeaderboardEntry] = []
        entries.reserveCapacity(candidates.count)
        for (n, c) in candidates.enumerated() {
            var e = c.entry
            e.rank = n + 1
            entries.append(e)
        }
        var adoption = Adoption(activeUsers: 0, knownUsers: 0, effectiveActiveUsers: 0)
        for p in parts {
            adoption.activeUsers += p.activeUsers
            adoption.knownUsers += p.knownUsers
            adoption.effectiveActiveUsers += p.effectiveActiveUsers
        }
        return LeaderboardSnapshot(asOf: 0, window: window, windowStart: 0, windowEnd: 0, scope: scope,
                                   rankBy: rankBy, entries: entries, adoption: adoption)
    }

    /// Higher value first; ties by user id, byte-wise (the engine's `Interner.less`).
    static func ranksBefore(_ a: PartialBoard.Candidate, _ b: PartialBoard.Candidate) -> Bool {
        if a.value != b.value { return a.value > b.value }
        return a.entry.userId.utf8.lexicographicallyPrecedes(b.entry.userId.utf8)
    }
}
