/// The `engine:` section: event time, de-duplication and input limits.
public struct EngineSettings: Sendable, Equatable {
    /// How far behind a partition's newest event time an event may arrive and still count
    /// (key `allowed_lateness`, default 5m).
    public var allowedLatenessMs: Int64 = 5 * 60_000
    /// A partition quiet this long stops holding the watermark back (key `idle_timeout`, default 30s).
    public var idleTimeoutMs: Int64 = 30_000
    /// How long, in event time, an `event_id` is remembered (key `dedup_horizon`, default 24h).
    public var dedupHorizonMs: Int64 = 24 * 3_600_000
    /// Upper bound on remembered event ids per partition (key `dedup_max_ids`, default 4000000).
    public var dedupMaxIds: Int = 4_000_000
    /// Events further ahead of the newest accepted event time are dead-lettered
    /// (key `max_future_skew`, default 1h).
    public var maxFutureSkewMs: Int64 = 3_600_000
    /// Larger messages are dead-lettered (key `max_message_bytes`, default 1048576).
    public var maxMessageBytes: Int = 1_048_576
    /// Engine shards, each on its own thread, over which the input partitions are spread
    /// (key `threads`, default 0: one per processor, at most one per partition).
    public var threads: Int = 0
    /// How the instances of one group share the work (key `instances`): `standby`, one consumes and the
    /// others stand by (default); `split`, they split the input partitions and merge their boards.
    public var splitPartitions = false

    /// The defaults.
    public init() {}
}
