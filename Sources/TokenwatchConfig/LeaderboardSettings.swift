import TokenwatchCore

/// The `leaderboard:` section.
public struct LeaderboardSettings: Sendable, Equatable {
    /// Snapshots are taken at event times that are multiples of this (key `snapshot_interval`, default 1m).
    public var snapshotIntervalMs: Int64 = 60_000
    /// Entries per board, 1...1000 (key `top_k`, default 25).
    public var topK: Int = 25
    /// Ranking order (key `rank_by`: `tokens`, `effective_tokens` or `outcomes`; default `effective_tokens`).
    public var rankBy: RankBy = .effectiveTokens
    /// When the weekly board is read, UTC (key `weekly_cutoff`, default `mon 00:00`).
    public var weeklyCutoff: WeeklyCutoff = WeeklyCutoff(weekday: 0, minuteOfDay: 0)
    /// A user seen within this much event time counts in `known_users` (key `known_users_horizon`, default 28d).
    public var knownUsersHorizonMs: Int64 = 28 * 86_400_000
    /// The adoption mandate the dashboard and reports compare against, 0...1 (key `adoption_target`, default 0.8).
    public var adoptionTarget: Double = 0.8

    /// The defaults.
    public init() {}
}
