/// Turns OTLP Sum points into the amount each adds: delta points as they are, cumulative points
/// minus the previous point of their series, with resets detected.
///
/// A cumulative series resets when its start time moves (the tool restarted) or its value drops
/// (counters restart within a session: read as an `increase()`, 22 commits once showed as ~6,200).
/// After a reset the point's whole value is new. A point no newer than the last one of its series
/// (a re-delivered batch, even one from before a restart) adds nothing. The first point of a series adds its whole value: it counts
/// from the series' start time. Memory: one entry per series heard of within the dedup horizon (`forget`).
public struct MetricDeltas: Sendable, Equatable {
    struct Last: Sendable, Equatable {
        var start: UInt64
        var time: UInt64
        var value: Double
    }

    var last: [UInt64: Last] = [:]
    /// Cumulative resets seen, for the operator (`tokenwatch_otlp_metric_resets_total`).
    public internal(set) var resets = 0

    public init() {}

    /// How much `point` adds to its counter.
    public mutating func delta(of point: OTLPMetricPoint) -> Double {
        guard point.temporality == .cumulative else { return point.value }
        let now = Last(start: point.startTimeUnixNano, time: point.timeUnixNano, value: point.value)
        guard let before = last[point.series] else {
            last[point.series] = now
            return point.value
        }
        // Not newer than what the series last said: a re-delivered batch, or an older incarnation's point.
        if now.time <= before.time { return 0 }
        last[point.series] = now
        if now.start != before.start || now.value < before.value {
            resets += 1
            return now.value
        }
        return now.value - before.value
    }

    /// Series tracked.
    public var count: Int { last.count }

    /// Forgets the series whose last point is older than `ms` (epoch milliseconds); checked at most once
    /// per `forgetStepMs` of `ms`, so a snapshot every minute does not scan every series every minute.
    /// A series heard of again after that starts anew (its next point counts whole): hence a long horizon.
    mutating func forget(before ms: Int64) {
        guard !last.isEmpty, ms >= forgottenBefore + Self.forgetStepMs else { return }
        forgottenBefore = ms
        let nanos = UInt64(clamping: ms) &* 1_000_000
        last = last.filter { $0.value.time >= nanos }
    }

    /// One hour: how often `forget` scans.
    static let forgetStepMs: Int64 = 3_600_000
    /// The time `forget` last scanned to (derived state: not checkpointed; a restart scans once more).
    private var forgottenBefore = Int64.min / 2
}
