extension Engine {
    /// The boards of window `i` with the roster as the adoption denominator, when one is configured
    /// (`Roster.apply`); as they are otherwise. With engine shards, each shard's `Roster.tally` adds up
    /// and `apply` runs once on the merged boards.
    func rosterAdjusted(_ boards: [LeaderboardSnapshot], window i: Int) -> [LeaderboardSnapshot] {
        guard let roster = configuration.roster, roster.count > 0 else { return boards }
        let w = windows[i]
        let active = w.active.lazy.map { u in
            (user: users.string(u), effective: detector.isReal(u, suspicion: suspicion[Int(u)]))
        }
        return roster.apply(to: boards, tallies: [w.spec.name: roster.tally(active: active)])
    }
}
