/// `leaderboard_sprint`: a large share of the week's tokens falls in the hours just before the weekly
/// cutoff (`leaderboard.weekly_cutoff`), at a yield well below the user's own for the rest of the week
/// (a deadline met with accepted work is not a sprint for rank). Evaluated once per cutoff. The default
/// window is the last two days, so a sprint spread over the last day or so is still one sprint.
struct LeaderboardSprintRule: Sendable {
    static let defaults: [String: Double] = [
        "window": 172_800_000,
        "min_share": 0.5,
        "min_tokens": 300_000,
        "yield_ratio": 0.5,
    ]

    var enabled: Bool
    /// How long before the cutoff counts as the sprint.
    var windowMs: Int64
    /// Share of the week's tokens in the sprint window.
    var minShare: Double
    /// Tokens in the sprint window below which it never fires.
    var minTokens: Double
    /// The sprint's outcomes per token must be below this share of the rest of the week's.
    var yieldRatio: Double

    init(_ p: RuleParameters) {
        let d = Self.defaults
        enabled = p.enabled
        windowMs = Int64(p.value("window", d))
        minShare = p.value("min_share", d)
        minTokens = p.value("min_tokens", d)
        yieldRatio = p.value("yield_ratio", d)
    }

    func evaluate(_ book: WeekBook, user u: Int) -> (score: Double, evidence: Evidence)? {
        let week = Double(book.tokens[u]), late = Double(book.lateTokens[u])
        guard late >= minTokens, week > 0 else { return nil }
        let share = late / week
        guard share >= minShare else { return nil }
        let lateOutcomes = Double(book.lateOutcomes[u])
        let restTokens = week - late
        let restOutcomes = Double(book.outcomes[u]) - lateOutcomes
        let restYield = restTokens > 0 ? restOutcomes / restTokens : 0
        // With nothing else in the week to compare with, the share alone decides.
        if restTokens > 0 && restOutcomes > 0 {
            guard lateOutcomes < yieldRatio * restYield * late else { return nil }
        }
        let evidence = Evidence(a: late, b: week, c: share, d: lateOutcomes / late * 100_000,
                                e: restYield * 100_000, f: Double(book.cutoff))
        return (exceedScore(share, over: minShare), evidence)
    }

    func describe(_ e: Evidence, user: String, into w: inout JSONWriter) -> String {
        w.beginObject()
        w.key("cutoff"); w.int(Int64(e.f))
        w.key("window_ms"); w.int(windowMs)
        w.key("window_tokens"); w.int(Int64(e.a))
        w.key("week_tokens"); w.int(Int64(e.b))
        w.key("share"); w.decimal(e.c, decimals: 4)
        w.key("window_outcomes_per_100k_tokens"); w.decimal(e.d, decimals: 2)
        w.key("rest_of_week_outcomes_per_100k_tokens"); w.decimal(e.e, decimals: 2)
        w.endObject()
        return "\(user) put \(AlertText.percent(e.c)) of the week's \(AlertText.tokens(e.b)) tokens into the "
            + "\(AlertText.duration(ms: windowMs)) before the \(AlertText.utc(Int64(e.f))) cutoff, at "
            + "\(AlertText.fixed(e.d, 1)) outcomes per 100k tokens against \(AlertText.fixed(e.e, 1)) the rest of the week"
    }
}
