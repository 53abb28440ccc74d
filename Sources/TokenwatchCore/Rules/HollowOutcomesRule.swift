/// `hollow_outcomes`: usage whose outcomes are hollow, measured per hour against the user's own rate.
///
/// Two patterns, both per event over the user's current UTC hour:
/// - *fake accepts*: many accepted requests in a heavy hour that produce almost no code (lines per
///   accepted request) and no commit or PR — agent loops marking their steps accepted;
/// - *hollow hours*: repeated heavy hours (in the last `span_hours`) whose outcomes per token stay far
///   below the user's own rate in their ordinary hours — needless sessions on top of a real week. A
///   user needs `min_history_hours` ordinary hours first (new users are not judged), and hours whose
///   tool reports no outcome are unknown, never hollow.
///
/// State per user (in `UserSignals`): the hour's accepted requests, lines, reported events, a 64-bit mask
/// of hollow hours and the ordinary-hour moving averages, folded when an hour closes.
struct HollowOutcomesRule: Sendable {
    static let defaults: [String: Double] = [
        "min_tokens": 200_000,
        "min_accepted": 15,
        "max_lines_per_accept": 2,
        "yield_ratio": 0.2,
        "min_hours": 3,
        "span_hours": 48,
        "min_history_hours": 4,
        "baseline_hours": 40,
    ]

    var enabled: Bool
    /// Tokens in the hour below which an hour is ordinary (never hollow, never fake).
    var minTokens: Int64
    /// Accepted requests in the hour needed to judge their substance.
    var minAccepted: UInt32
    /// Lines (added + removed) per accepted request at or below which acceptances are hollow.
    var maxLinesPerAccept: Double
    /// An hour is hollow when its outcomes are below this share of what the user's own rate predicts.
    var yieldRatio: Double
    /// Hollow hours within the span needed to fire (the current one included).
    var minHours: Int
    /// How far back hollow hours count (at most 64).
    var spanMask: UInt64
    /// Ordinary reported hours needed before the user's own rate is trusted.
    var minHistoryHours: UInt32
    /// Span of the ordinary-hour moving average, in hours.
    var baselineHours: Double

    init(_ p: RuleParameters) {
        let d = Self.defaults
        enabled = p.enabled
        minTokens = Int64(p.value("min_tokens", d))
        minAccepted = UInt32(clamping: Int64(max(1, p.value("min_accepted", d))))
        maxLinesPerAccept = p.value("max_lines_per_accept", d)
        yieldRatio = p.value("yield_ratio", d)
        minHours = Int(max(1, p.value("min_hours", d)))
        let span = Int(min(64, max(1, p.value("span_hours", d))))
        spanMask = span >= 64 ? ~0 : (1 << UInt64(span)) - 1
        minHistoryHours = UInt32(clamping: Int64(p.value("min_history_hours", d)))
        baselineHours = max(1, p.value("baseline_hours", d))
    }

    /// Whether most of the hour's events reported an outcome (else its outcomes are unknown).
    @inline(__always) static func reported(_ events: UInt32, _ reported: UInt32) -> Bool { 2 * reported >= events && events > 0 }

    /// Whether the user's current hour is hollow so far.
    @inline(__always) func isHollow(_ s: UserSignals) -> Bool {
        guard s.hourTokens >= minTokens, Self.reported(s.hourEvents, s.hourReported),
              s.ordinaryHours >= minHistoryHours, s.ordinaryTokens > 0 else { return false }
        let expected = s.ordinaryOutcomes / s.ordinaryTokens * Double(s.hourTokens)
        return Double(s.hourOutcomes) < yieldRatio * expected
    }

    /// Closes the user's current hour `shift` hours before the new one: remembers whether it was hollow
    /// and folds an ordinary reported hour into the user's own rate (always, so it is ready when enabled).
    /// An hour deep in an unbroken stretch (the stretch had lasted `stretchLimitMs` by its last event) is
    /// not ordinary: a script running all day must not become the user's own rate.
    @inline(__always) func closeHour(_ s: inout UserSignals, shift: Int64, stretchLimitMs: Int64) {
        let hollow: UInt64 = isHollow(s) ? 1 : 0
        s.hollowHours = shift >= 64 ? 0 : (s.hollowHours | hollow) << UInt64(shift)
        guard s.hourTokens > 0, s.hourTokens < minTokens, Self.reported(s.hourEvents, s.hourReported) else { return }
        if stretchLimitMs > 0 && s.stretchStart != .min && s.lastTs != .min && s.lastTs - s.stretchStart >= stretchLimitMs { return }
        s.ordinaryHours &+= 1
        let n = min(Double(s.ordinaryHours), baselineHours)
        s.ordinaryTokens += (Double(s.hourTokens) - s.ordinaryTokens) / n
        s.ordinaryOutcomes += (Double(s.hourOutcomes) - s.ordinaryOutcomes) / n
        s.ordinaryEvents += (Double(s.hourEvents) - s.ordinaryEvents) / n
    }

    /// Evaluates the user's current hour after an event was added to it.
    @inline(__always) func evaluate(_ s: UserSignals) -> (score: Double, evidence: Evidence)? {
        guard s.hourTokens >= minTokens else { return nil }
        if let fake = fakeAccepts(s) { return fake }
        guard isHollow(s) else { return nil }
        let hours = (s.hollowHours & spanMask).nonzeroBitCount + 1
        guard hours >= minHours else { return nil }
        let rate = s.ordinaryOutcomes / s.ordinaryTokens
        let evidence = Evidence(a: Double(s.hourTokens), b: Double(s.hourOutcomes), c: rate * Double(s.hourTokens),
                                d: Double(hours), e: Double(s.hour * 3_600_000), f: 0)
        // More hollow hours in the span score higher.
        return (exceedScore(Double(hours), over: Double(minHours) - 0.5), evidence)
    }

    /// Many accepted requests with almost no code and nothing committed.
    @inline(__always) func fakeAccepts(_ s: UserSignals) -> (score: Double, evidence: Evidence)? {
        guard s.hourAccepted >= minAccepted, s.hourOutcomes <= s.hourAccepted else { return nil }  // any commit or PR: real
        let perAccept = Double(s.hourLines) / Double(s.hourAccepted)
        guard perAccept <= maxLinesPerAccept else { return nil }
        let evidence = Evidence(a: Double(s.hourTokens), b: Double(s.hourAccepted), c: perAccept, d: 0,
                                e: Double(s.hour * 3_600_000), f: 1)
        return (min(1, 0.5 + 0.5 * (1 - perAccept / max(maxLinesPerAccept, 1e-9)) + Double(s.hourAccepted) / Double(20 * minAccepted)), evidence)
    }

    func describe(_ e: Evidence, user: String, into w: inout JSONWriter) -> String {
        w.beginObject()
        w.key("pattern"); w.string(e.f == 1 ? "hollow_accepts" : "hollow_hours")
        w.key("hour_start"); w.int(Int64(e.e))
        w.key("hour_tokens"); w.int(Int64(e.a))
        if e.f == 1 {
            w.key("accepted"); w.int(Int64(e.b))
            w.key("lines_per_accept"); w.decimal(e.c, decimals: 2)
            w.endObject()
            return "\(user) had \(AlertText.count(e.b, "request", "requests")) accepted in the hour from \(AlertText.utc(Int64(e.e))) "
                + "(\(AlertText.tokens(e.a)) tokens) at \(AlertText.fixed(e.c, 1)) lines each and no commit or PR"
        }
        w.key("hour_outcomes"); w.int(Int64(e.b))
        w.key("expected_outcomes_at_own_rate"); w.decimal(e.c, decimals: 1)
        w.key("hollow_hours"); w.int(Int64(e.d))
        w.key("span_hours"); w.int(Int64(spanMask.nonzeroBitCount))
        w.endObject()
        return "\(user) used \(AlertText.tokens(e.a)) tokens in the hour from \(AlertText.utc(Int64(e.e))) with "
            + "\(AlertText.count(e.b, "outcome", "outcomes")) where their own rate predicts \(AlertText.fixed(e.c, 0)); "
            + "\(Int64(e.d)) such hours in \(spanMask.nonzeroBitCount)h"
    }
}
