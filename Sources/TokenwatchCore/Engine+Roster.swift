extension Engine {
    /// This engine's users of window `i` split by the roster (`Roster.tally`); empty without a roster.
    /// Users are disjoint between shards, so the shards' tallies add up.
    func rosterTally(window i: Int) -> [String: RosterTally] {
        guard let roster = configuration.roster, roster.count > 0 else { return [:] }
        let active = windows[i].active.lazy.map { u in
            (user: users.string(u), effective: detector.isReal(u, suspicion: suspicion[Int(u)]))
        }
        return roster.tally(active: active)
    }

    /// The merged boards of window `i` with the roster as the adoption denominator, when one is configured
    /// (`Roster.apply`, from every shard's `rosterTally`); as they are otherwise.
    func applyRoster(_ boards: [LeaderboardSnapshot], tallies: [[String: RosterTally]], window i: Int) -> [LeaderboardSnapshot] {
        guard let roster = configuration.roster, roster.count > 0 else { return boards }
        var total: [String: RosterTally] = [:]
        for tally in tallies { total.merge(tally, uniquingKeysWith: +) }
        return roster.apply(to: boards, tallies: [windows[i].spec.name: total])
    }
}
