/// Per-user detection state that the per-event rules update in the user's (per-partition) order.
/// Fixed size (about 250 bytes, plus 32 bytes of prompt fingerprints kept beside it in `Detector`),
/// so a user costs the same however much they send.
struct UserSignals: Sendable, Equatable {
    /// The team of the user's newest event (for alerts of the per-event rules).
    var team: UInt32 = 0
    /// Bit `RuleKind.index` is set while the user has an open alert of that rule.
    var open: UInt8 = 0
    /// Hashed requests seen, saturating at 64 (`duplicate_prompts`).
    var hashed: UInt8 = 0
    // (The small fields of the later rules fill the alignment gaps: the struct stays at 272 bytes.)
    /// The user's own earlier weeks (leaderboard_sprint): active weeks folded in (saturating), not the
    /// weeks the rule fired on ...
    var sprintWeeks: UInt8 = 0
    /// Bit k: UTC day `stretchDay - k` had a long memoryless stretch (machine_cadence's repeated stretch).
    var stretchDays: UInt8 = 0

    // The current UTC hour (volume_spike, machine_cadence's round-the-clock check).
    /// Hours since the epoch of the hour being tallied; `.min` before the first event.
    var hour: Int64 = .min
    var hourTokens: Int64 = 0
    var hourOutcomes: UInt32 = 0
    /// Bit k: the user was active in hour `hour - k`.
    var activeHours: UInt32 = 0
    /// Active hours folded into the baseline so far.
    var baseHours: UInt32 = 0
    /// ... and the moving average of the share of their week's tokens in the sprint window.
    var sprintShare: Float = 0
    /// Moving averages of tokens and outcomes per active hour.
    var baseTokens = 0.0
    var baseOutcomes = 0.0

    // The beat (machine_cadence).
    var runBeats: UInt32 = 0
    var offBeats: UInt32 = 0
    var lastTs: Int64 = .min
    var beatTs: Int64 = .min
    var runStart: Int64 = .min
    var runMean = 0.0
    var runM2 = 0.0

    /// Bit k: the k-th most recent hashed request repeated a recent prompt (duplicate_prompts).
    var repeats: UInt64 = 0
    /// Input tokens of the four most recent requests, newest in lane 0 (duplicate_prompts' paraphrases).
    var sizes = SIMD4<UInt32>(repeating: 0)

    // The current hour's outcomes in detail (hollow_outcomes).
    /// Accepted requests that reported lines, and their lines added and removed.
    var hourAccepted: UInt32 = 0
    var hourLines: UInt32 = 0
    var hourEvents: UInt32 = 0
    /// The hour's events whose tool reported an outcome (a missing outcome is unknown, not zero).
    var hourReported: UInt32 = 0
    /// Bit k: hour `hour - k` was hollow (heavy, reported, outcomes far below the user's own rate).
    var hollowHours: UInt64 = 0
    /// The user's own rate: moving averages of tokens and outcomes per ordinary (not heavy) reported hour.
    var ordinaryHours: UInt32 = 0
    /// A person's and the agent's active time (optional telemetry, events that report both), in ms,
    /// halved at each new UTC day: `presenceDay` is the day they were last brought to (`Presence.swift`).
    var presenceDay: Int32 = .min
    var ordinaryTokens = 0.0
    var ordinaryOutcomes = 0.0
    var ordinaryEvents = 0.0

    // The current unbroken stretch of activity (machine_cadence): no gap longer than a break.
    var stretchStart: Int64 = .min
    var stretchEvents: UInt32 = 0
    var stretchReported: UInt32 = 0
    var stretchOutcomes: UInt32 = 0
    var humanMs: UInt32 = 0
    var stretchTokens: Int64 = 0
    /// Running mean and sum of squared deviations of the gaps in the stretch (burstiness).
    var gapMean = 0.0
    var gapM2 = 0.0
    var agentMs: UInt32 = 0
    var stretchDay: Int32 = .min

    /// Snapshot-interval bucket of the last queued finding of each per-event rule: at most one
    /// finding per (user, rule) per interval is queued, which bounds the queue.
    var queuedSpike: Int64 = .min
    var queuedCadence: Int64 = .min
    var queuedDuplicates: Int64 = .min
    var queuedHollow: Int64 = .min
}
