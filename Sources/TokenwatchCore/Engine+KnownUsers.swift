extension Engine {
    /// The step of the known-users window. Its counted range ends at the snapshot time rounded down to this
    /// step, and what lies after that is counted only if it is in the board's own window; so the step must
    /// not exceed the shortest window, or people seen earlier the same day but not in a 1h window would not
    /// count in its `known_users`. The largest such divisor of a day keeps a heavy user's entries few
    /// (24 a day at 1h, against 1,440 at 1m).
    static func knownStepMs(_ windows: [WindowSpec]) -> Int64 {
        let shortest = windows.map(\.lengthMs).min() ?? 86_400_000
        for step: Int64 in [3_600_000, 1_800_000, 900_000, 600_000, 300_000, 60_000] where step <= shortest { return step }
        return 60_000
    }
}
