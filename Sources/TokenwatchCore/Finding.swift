/// Up to eight numbers behind one finding; what each means is the rule's business (see its `describe`).
/// A fixed-size value, so queuing a finding on the per-event path does not allocate.
struct Evidence: Sendable, Equatable {
    var a = 0.0, b = 0.0, c = 0.0, d = 0.0, e = 0.0, f = 0.0, g = 0.0, h = 0.0
}

/// One observation that a rule's condition held for a user at event time `ts`.
///
/// Per-event rules queue findings; they take effect (open or extend an alert, change suspicion) at
/// the first snapshot boundary after `releaseAt`, which depends only on the partition's own order, so
/// the alerts and boards do not depend on how partitions interleave.
struct Finding: Sendable, Equatable {
    /// Event time at which the behaviour was seen.
    var ts: Int64
    /// Takes effect at the first snapshot time strictly after this (`max(ts, partition watermark)`).
    var releaseAt: Int64
    /// Until when (event time) this finding shows the behaviour going on; resolution counts from here.
    var seenUntil: Int64
    var user: UInt32
    var team: UInt32
    var rule: RuleKind
    /// How strongly the condition held, in [0.5, 1] for a finding that fires.
    var score: Double
    var evidence: Evidence
    /// The user's human and agent time (`UserSignals.presence`) when a per-event rule saw it, taken in the
    /// user's own order so it does not depend on partition interleaving; both 0 when unknown (and for the
    /// boundary rules, whose snapshot time the per-user sums cannot be read at).
    var humanMs: UInt32 = 0
    var agentMs: UInt32 = 0
}

/// Score of a finding whose measure `value` passed `threshold` (higher is worse): 0.5 at the
/// threshold, rising towards 1 as the value grows past it.
@inline(__always) func exceedScore(_ value: Double, over threshold: Double) -> Double {
    guard value > 0, threshold > 0 else { return 1 }
    return min(1, max(0.5, 0.5 + 0.5 * (1 - threshold / value)))
}

/// Score of a finding whose measure `value` fell below `threshold` (lower is worse).
@inline(__always) func belowScore(_ value: Double, under threshold: Double) -> Double {
    guard threshold > 0 else { return 0.5 }
    return min(1, max(0.5, 0.5 + 0.5 * (1 - value / threshold)))
}
