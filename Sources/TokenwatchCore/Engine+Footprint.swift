// What the engine's memory holds, by part, for the memory figures of `bench` (BENCHMARKS.md): the
// arrays' capacities times their element sizes, nested arrays included; allocator overhead and
// object headers are not counted, so the total is a little below the resident size it explains.

extension Engine {
    /// Bytes held by each part of the state, largest first.
    public func stateFootprint() -> [(part: String, bytes: Int)] {
        var parts: [(part: String, bytes: Int)] = windows.map { ("window \($0.spec.name)", $0.footprintBytes) }
        parts.append(("window of known users", known.footprintBytes))
        parts.append(("windows of events without outcomes", unreported.reduce(0) { $0 + $1.footprintBytes }))
        parts.append(("rule state per user", detector.signals.capacity * MemoryLayout<UserSignals>.stride))
        parts.append(("recent prompt hashes", detector.prompts.capacity * 2))
        parts.append(("week tallies", detector.weeks.reduce(0) { $0 + $1.footprintBytes }))
        parts.append(("dedup memory", partitions.values.reduce(0) { $0 + $1.filter.footprintBytes } + unkeyedIds.footprintBytes))
        parts.append(("user and team ids", users.footprintBytes + teams.footprintBytes))
        parts.append(("other per-user arrays", suspicion.capacity * 8 + userIsService.capacity + knownTeamCounted.capacity * 4))
        return parts.sorted { $0.bytes > $1.bytes }
    }
}
