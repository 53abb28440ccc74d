/// Per-user detection state that the per-event rules update in the user's (per-partition) order.
/// Fixed size (about 150 bytes, plus 32 bytes of prompt fingerprints kept beside it in `Detector`),
/// so a user costs the same however much they send.
struct UserSignals: Sendable, Equatable {
    /// The team of the user's newest event (for alerts of the per-event rules).
    var team: UInt32 = 0
    /// Bit `RuleKind.index` is set while the user has an open alert of that rule.
    var open: UInt8 = 0
    /// Hashed requests seen, saturating at 64 (`duplicate_prompts`).
    var hashed: UInt8 = 0

    // The current UTC hour (volume_spike, machine_cadence's round-the-clock check).
    /// Hours since the epoch of the hour being tallied; `.min` before the first event.
    var hour: Int64 = .min
    var hourTokens: Int64 = 0
    var hourOutcomes: UInt32 = 0
    /// Bit k: the user was active in hour `hour - k`.
    var activeHours: UInt32 = 0
    /// Active hours folded into the baseline so far.
    var baseHours: UInt32 = 0
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

    /// Snapshot-interval bucket of the last queued finding of each per-event rule: at most one
    /// finding per (user, rule) per interval is queued, which bounds the queue.
    var queuedSpike: Int64 = .min
    var queuedCadence: Int64 = .min
    var queuedDuplicates: Int64 = .min
}
