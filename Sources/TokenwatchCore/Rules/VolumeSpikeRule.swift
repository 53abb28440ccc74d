/// `volume_spike`: the hour's tokens far above the user's own baseline per active hour, above a floor,
/// without the outcomes that baseline would predict (a legitimate crunch brings its accepted work along).
///
/// State per user (in `UserSignals`): the current UTC hour's tokens and outcomes, and moving averages
/// of tokens and outcomes per active hour, folded in when an hour closes. Evaluated per event.
struct VolumeSpikeRule: Sendable {
    static let defaults: [String: Double] = [
        "min_tokens": 200_000,
        "factor": 6,
        "yield_ratio": 0.35,
        "min_history_hours": 6,
        "baseline_hours": 40,
    ]

    var enabled: Bool
    /// Tokens in the hour below which it never fires.
    var minTokens: Double
    /// The hour's tokens must reach this multiple of the baseline tokens per active hour.
    var factor: Double
    /// ... and its outcomes stay below this share of what the baseline yield predicts for them.
    var yieldRatio: Double
    /// Active hours of baseline needed before it can fire.
    var minHistoryHours: UInt32
    /// Span of the baseline's moving average, in active hours.
    var baselineHours: Double

    init(_ p: RuleParameters) {
        let d = Self.defaults
        enabled = p.enabled
        minTokens = p.value("min_tokens", d)
        factor = p.value("factor", d)
        yieldRatio = p.value("yield_ratio", d)
        minHistoryHours = UInt32(clamping: Int64(p.value("min_history_hours", d)))
        baselineHours = max(1, p.value("baseline_hours", d))
    }

    /// Folds a closed hour into the user's baseline (always, so the baseline is ready when enabled).
    @inline(__always) func closeHour(_ s: inout UserSignals) {
        guard s.hourTokens > 0 || s.hourOutcomes > 0 else { return }
        s.baseHours &+= 1
        let n = min(Double(s.baseHours), baselineHours)
        s.baseTokens += (Double(s.hourTokens) - s.baseTokens) / n
        s.baseOutcomes += (Double(s.hourOutcomes) - s.baseOutcomes) / n
    }

    /// Evaluates the user's current hour after an event was added to it.
    @inline(__always) func evaluate(_ s: UserSignals) -> (score: Double, evidence: Evidence)? {
        guard s.baseHours >= minHistoryHours, s.baseTokens > 0 else { return nil }
        let tokens = Double(s.hourTokens)
        let threshold = max(minTokens, factor * s.baseTokens)
        guard tokens >= threshold else { return nil }
        let expected = s.baseOutcomes / s.baseTokens * tokens
        let outcomes = Double(s.hourOutcomes)
        guard outcomes < yieldRatio * expected else { return nil }
        let ratio = tokens / s.baseTokens
        let evidence = Evidence(a: tokens, b: s.baseTokens, c: ratio, d: outcomes, e: expected,
                                f: Double(s.hour * 3_600_000))
        return (exceedScore(ratio, over: factor), evidence)
    }

    static func describe(_ e: Evidence, user: String, into w: inout JSONWriter) -> String {
        w.beginObject()
        w.key("hour_start"); w.int(Int64(e.f))
        w.key("hour_tokens"); w.int(Int64(e.a))
        w.key("baseline_tokens_per_active_hour"); w.int(Int64(e.b.rounded()))
        w.key("ratio"); w.decimal(e.c, decimals: 2)
        w.key("hour_outcomes"); w.int(Int64(e.d))
        w.key("expected_outcomes"); w.decimal(e.e, decimals: 1)
        w.endObject()
        return "\(user) used \(AlertText.tokens(e.a)) tokens in the hour from \(AlertText.utc(Int64(e.f))), "
            + "\(AlertText.fixed(e.c, 1))× their usual \(AlertText.tokens(e.b)) per active hour, "
            + "with \(AlertText.count(e.d, "outcome", "outcomes")) where about \(AlertText.fixed(e.e, 0)) were expected"
    }
}
