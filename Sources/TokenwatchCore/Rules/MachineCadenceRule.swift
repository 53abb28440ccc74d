/// `machine_cadence`: requests on a near-constant beat for a long stretch, or activity in nearly
/// every hour of the day — scripts and cron jobs posing as a person.
///
/// The beat is tracked per user with a running mean and variance of the intervals between "on-beat"
/// requests: a request within `tolerance` of the current period continues the run, an earlier one is
/// an extra (a person working alongside the script) and is skipped, a later one breaks the run. People's
/// requests that happen to continue a run still spread over the whole tolerance band (their coefficient
/// of variation converges to about `tolerance`), so `max_cv` well below it separates them from a script.
///
/// A script with random (memoryless) gaps has no beat; what gives it away is an unbroken stretch: hours of
/// activity without the breaks people take (no gap over `break`), whose gaps are not bursty (Goh–Barabási
/// burstiness B = (σ − μ)/(σ + μ) at most `max_burstiness`: 0 for memoryless gaps, −1 for a clock, towards
/// 1 for people's bursts and pauses), at outcomes per request below the user's own rate (a script adds
/// requests that produce nothing; a person's long day brings their usual outcomes). Stretches whose tool reports no
/// outcome, and users without enough ordinary hours to know their own rate, are not judged.
///
/// Whatever the outcomes, such a stretch on `stretch_days` days of the last seven is a script's working
/// hours: people have a long unbroken day now and then (a crunch, an incident), not day after day.
struct MachineCadenceRule: Sendable {
    static let defaults: [String: Double] = [
        "min_requests": 40,
        "min_duration": 3_600_000,
        "max_cv": 0.05,
        "tolerance": 0.15,
        "min_interval": 1_000,
        "active_hours": 22,
        "stretch": 18_000_000,
        "break": 1_800_000,
        "stretch_min_requests": 60,
        "max_burstiness": 0.2,
        "stretch_yield_ratio": 0.65,
        "stretch_days": 3,
    ]

    var enabled: Bool
    /// Requests on the beat needed before it fires.
    var minRequests: UInt32
    /// The run must have lasted this long (ms).
    var minDurationMs: Int64
    /// Largest coefficient of variation (std / mean) of the intervals on the beat.
    var maxCV: Double
    /// An interval within this share of the period continues the run.
    var tolerance: Double
    /// Intervals shorter than this (ms) never start a run (bursts, parallel requests).
    var minIntervalMs: Double
    /// Fires when the user was active in at least this many of the last 24 hours (0 turns this off).
    var activeHours: Int
    /// An unbroken stretch must last this long (ms; 0 turns the stretch check off) ...
    var stretchMs: Int64
    /// ... with no gap longer than this (ms) ...
    var breakMs: Int64
    /// ... and at least this many requests ...
    var stretchMinRequests: UInt32
    /// ... whose gaps have at most this burstiness ...
    var maxBurstiness: Double
    /// ... at outcomes per request below this share of the user's own rate.
    var stretchYieldRatio: Double
    /// Such stretches (whatever the outcomes) on this many days of the last 7 fire too (0: off).
    var stretchDays: Int

    init(_ p: RuleParameters) {
        let d = Self.defaults
        enabled = p.enabled
        minRequests = UInt32(clamping: Int64(max(3, p.value("min_requests", d))))
        minDurationMs = Int64(p.value("min_duration", d))
        maxCV = p.value("max_cv", d)
        tolerance = min(0.9, p.value("tolerance", d))
        minIntervalMs = max(1, p.value("min_interval", d))
        activeHours = Int(min(24, p.value("active_hours", d)))
        stretchMs = Int64(p.value("stretch", d))
        breakMs = max(1_000, Int64(p.value("break", d)))
        stretchMinRequests = UInt32(clamping: Int64(max(3, p.value("stretch_min_requests", d))))
        maxBurstiness = p.value("max_burstiness", d)
        stretchYieldRatio = p.value("stretch_yield_ratio", d)
        stretchDays = Int(max(0, min(7, p.value("stretch_days", d))))
    }

    /// The Goh–Barabási burstiness of gaps with this mean and standard deviation.
    @inline(__always) static func burstiness(mean: Double, std: Double) -> Double {
        mean + std > 0 ? (std - mean) / (std + mean) : 0
    }

    /// Extends the user's unbroken stretch with an event at `ts` (before `observe` moves `lastTs`) and
    /// evaluates it. `ownRate` is the user's outcomes per request in ordinary hours, nil while unknown.
    @inline(__always) func stretch(_ s: inout UserSignals, ts: Int64, tokens: Int64, outcomes: UInt32, reported: Bool,
                                   ownRate: Double?) -> (score: Double, evidence: Evidence)? {
        let last = s.lastTs
        if last != .min && ts < last { return nil }  // out of order: gaps are about order
        if last == .min || ts - last > breakMs || s.stretchStart == .min {
            s.stretchStart = ts
            s.stretchEvents = 1
            s.stretchReported = reported ? 1 : 0
            s.stretchOutcomes = outcomes
            s.stretchTokens = tokens
            s.gapMean = 0
            s.gapM2 = 0
            return nil
        }
        s.stretchEvents &+= 1
        s.stretchReported &+= reported ? 1 : 0
        s.stretchOutcomes &+= outcomes
        s.stretchTokens &+= tokens
        let gap = Double(ts - last), n = Double(s.stretchEvents - 1)
        let delta = gap - s.gapMean
        s.gapMean += delta / n
        s.gapM2 += delta * (gap - s.gapMean)
        guard let b = longStretch(s, ts: ts) else { return nil }
        // The day the stretch began: one stretch is one day, even across midnight UTC.
        let days = Self.markStretchDay(&s, day: floorDiv(s.stretchStart, 86_400_000))
        if let found = evaluateStretch(s, ts: ts, burstiness: b, ownRate: ownRate) { return found }
        guard stretchDays > 0, days >= stretchDays else { return nil }
        let duration = ts - s.stretchStart
        let evidence = Evidence(a: Double(s.stretchEvents), b: Double(duration), c: b, d: Double(days), e: 7, f: 3)
        // More days and longer stretches score higher.
        let score = 0.5 + 0.1 * Double(days - stretchDays) + 0.25 * Double(duration - stretchMs) / Double(stretchMs)
        return (min(1, score), evidence)
    }

    /// The burstiness of the current stretch's gaps when it is long, busy and not bursty (else nil).
    @inline(__always) func longStretch(_ s: UserSignals, ts: Int64) -> Double? {
        guard stretchMs > 0, ts - s.stretchStart >= stretchMs, s.stretchEvents >= stretchMinRequests else { return nil }
        let std = (s.gapM2 / Double(s.stretchEvents - 2)).squareRoot()
        let b = Self.burstiness(mean: s.gapMean, std: std)
        return b <= maxBurstiness ? b : nil
    }

    /// Marks UTC `day` as one with a long stretch; the number of such days among the last 7.
    @inline(__always) static func markStretchDay(_ s: inout UserSignals, day: Int64) -> Int {
        let d = Int32(clamping: day)
        if s.stretchDay == .min || d > s.stretchDay {
            let shift = s.stretchDay == .min ? 8 : min(8, Int(d) - Int(s.stretchDay))
            s.stretchDays = shift >= 8 ? 1 : (s.stretchDays << UInt8(shift)) | 1
            s.stretchDay = d
        } else if s.stretchDay - d < 7 {
            s.stretchDays |= 1 << UInt8(s.stretchDay - d)
        }
        return (s.stretchDays & 0x7F).nonzeroBitCount
    }

    /// The unbroken stretch at a yield below the user's own rate.
    @inline(__always) func evaluateStretch(_ s: UserSignals, ts: Int64, burstiness b: Double, ownRate: Double?) -> (score: Double, evidence: Evidence)? {
        let duration = ts - s.stretchStart
        guard 2 * s.stretchReported >= s.stretchEvents, let rate = ownRate, s.stretchTokens > 0 else { return nil }
        let expected = rate * Double(s.stretchEvents)
        guard Double(s.stretchOutcomes) < stretchYieldRatio * expected else { return nil }
        let evidence = Evidence(a: Double(s.stretchEvents), b: Double(duration), c: b, d: Double(s.stretchOutcomes),
                                e: expected, f: 2)
        // Longer stretches score higher.
        return (min(1, 0.5 + 0.5 * Double(duration - stretchMs) / Double(stretchMs)), evidence)
    }

    /// Updates the beat with an event at `ts` (in the user's per-partition order) and evaluates it.
    @inline(__always) func observe(_ s: inout UserSignals, ts: Int64) -> (score: Double, evidence: Evidence)? {
        let previous = s.lastTs
        if previous == .min {
            s.lastTs = ts
            s.beatTs = ts
            return nil
        }
        if ts < previous { return nil }  // out of order: the beat is about order, skip it
        s.lastTs = ts
        if s.runBeats == 0 {
            startRun(&s, previous: previous, ts: ts)
            return nil
        }
        let d = Double(ts - s.beatTs)
        let p = s.runMean
        if abs(d - p) <= tolerance * p {
            s.runBeats &+= 1
            let delta = d - s.runMean
            s.runMean += delta / Double(s.runBeats)
            s.runM2 += delta * (d - s.runMean)
            s.beatTs = ts
        } else if d < p * (1 - tolerance) {
            if s.runBeats == 1 {
                // An unconfirmed period that is too long: take the newest interval instead.
                startRun(&s, previous: previous, ts: ts)
            } else {
                s.offBeats &+= 1
            }
            return nil
        } else {
            startRun(&s, previous: previous, ts: ts)
            return nil
        }
        let requests = s.runBeats + 1
        let duration = ts - s.runStart
        guard requests >= minRequests, duration >= minDurationMs, s.runBeats >= 2 else { return nil }
        let std = (s.runM2 / Double(s.runBeats - 1)).squareRoot()
        let cv = std / s.runMean
        guard cv <= maxCV else { return nil }
        let evidence = Evidence(a: Double(requests), b: s.runMean, c: std, d: Double(duration), e: Double(s.offBeats), f: 0)
        // Steadier and longer runs score higher.
        let steadiness = 1 - cv / max(maxCV, 1e-9)
        let length = min(1, Double(requests) / Double(4 * minRequests))
        return (min(1, 0.5 + 0.25 * steadiness + 0.25 * length), evidence)
    }

    @inline(__always) private func startRun(_ s: inout UserSignals, previous: Int64, ts: Int64) {
        let c = Double(ts - previous)
        s.beatTs = ts
        s.offBeats = 0
        s.runM2 = 0
        if c >= minIntervalMs {
            s.runMean = c
            s.runBeats = 1
            s.runStart = previous
        } else {
            s.runMean = 0
            s.runBeats = 0
        }
    }

    /// Evaluates round-the-clock activity after the user's active-hours mask changed.
    @inline(__always) func evaluateHours(_ s: UserSignals) -> (score: Double, evidence: Evidence)? {
        guard activeHours > 0 else { return nil }
        let active = (s.activeHours & 0x00FF_FFFF).nonzeroBitCount
        guard active >= activeHours else { return nil }
        let evidence = Evidence(a: Double(active), b: 24, c: 0, d: 0, e: 0, f: 1)
        return (exceedScore(Double(active), over: Double(activeHours) - 1), evidence)
    }

    static func describe(_ e: Evidence, user: String, into w: inout JSONWriter) -> String {
        w.beginObject()
        if e.f == 2 {
            w.key("pattern"); w.string("unbroken_stretch")
            w.key("requests"); w.int(Int64(e.a))
            w.key("duration_ms"); w.int(Int64(e.b))
            w.key("burstiness"); w.decimal(e.c, decimals: 3)
            w.key("outcomes"); w.int(Int64(e.d))
            w.key("expected_outcomes_at_own_rate"); w.decimal(e.e, decimals: 1)
            w.endObject()
            return "\(user) sent \(Int64(e.a)) requests for \(AlertText.duration(ms: Int64(e.b))) without a break, at burstiness "
                + "\(AlertText.fixed(e.c, 2)) (people are bursty), with \(AlertText.count(e.d, "outcome", "outcomes")) where their own rate predicts \(AlertText.fixed(e.e, 0))"
        }
        if e.f == 3 {
            w.key("pattern"); w.string("repeated_stretch")
            w.key("requests"); w.int(Int64(e.a))
            w.key("duration_ms"); w.int(Int64(e.b))
            w.key("burstiness"); w.decimal(e.c, decimals: 3)
            w.key("days_with_stretch"); w.int(Int64(e.d))
            w.key("of_days"); w.int(Int64(e.e))
            w.endObject()
            return "\(user) sent \(Int64(e.a)) requests for \(AlertText.duration(ms: Int64(e.b))) without a break, at burstiness "
                + "\(AlertText.fixed(e.c, 2)) (people are bursty), and worked such unbroken stretches on \(Int64(e.d)) of the last \(Int64(e.e)) days"
        }
        if e.f == 1 {
            w.key("pattern"); w.string("round_the_clock")
            w.key("active_hours"); w.int(Int64(e.a))
            w.key("of_hours"); w.int(Int64(e.b))
            w.endObject()
            return "\(user) was active in \(Int64(e.a)) of the last \(Int64(e.b)) hours"
        }
        w.key("pattern"); w.string("constant_interval")
        w.key("requests"); w.int(Int64(e.a))
        w.key("mean_interval_ms"); w.int(Int64(e.b.rounded()))
        w.key("stddev_interval_ms"); w.int(Int64(e.c.rounded()))
        w.key("cv"); w.decimal(e.b > 0 ? e.c / e.b : 0, decimals: 4)
        w.key("duration_ms"); w.int(Int64(e.d))
        w.key("other_requests"); w.int(Int64(e.e))
        w.endObject()
        var s = "\(user) sent \(Int64(e.a)) requests at \(AlertText.seconds(ms: e.b)) ± \(AlertText.seconds(ms: e.c)) intervals for \(AlertText.duration(ms: Int64(e.d)))"
        if e.e > 0 { s += " (besides \(AlertText.count(e.e, "other request", "other requests")))" }
        return s
    }
}
