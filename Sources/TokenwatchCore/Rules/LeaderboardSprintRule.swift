/// `leaderboard_sprint`: a large share of the week's tokens falls in the hours just before the weekly
/// cutoff (`leaderboard.weekly_cutoff`), at a yield well below the user's own for the rest of the week
/// (a deadline met with accepted work is not a sprint for rank). Evaluated once per cutoff. The default
/// window is the last two days, so a sprint spread over the last day or so is still one sprint.
///
/// The share is also compared with what is usual (`SprintBaseline`): the user's own earlier weeks once
/// there are `min_history_weeks` of them (weeks it fired on left out), else the organisation's median
/// week. It must reach `own_ratio` times that, so someone whose weeks always end heavy (a time zone, a
/// cutoff set on a Friday) is not a sprinter; with their own history, a share from `own_min_share` up is
/// enough when it is far above their usual.
struct LeaderboardSprintRule: Sendable {
    static let defaults: [String: Double] = [
        "window": 172_800_000,
        "min_share": 0.5,
        "min_tokens": 300_000,
        "yield_ratio": 0.5,
        "own_ratio": 3,
        "min_history_weeks": 2,
        "own_min_share": 0.3,
        "min_users": 20,
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
    /// The share must reach this multiple of the usual one ...
    var ownRatio: Double
    /// ... the user's own once they have this many earlier weeks, else the organisation's ...
    var minHistoryWeeks: Int
    /// ... and, judged against their own weeks, at least this share.
    var ownMinShare: Double
    /// Active users in the week needed before the organisation's median counts (else no baseline: min_share alone).
    var minUsers: Int

    init(_ p: RuleParameters) {
        let d = Self.defaults
        enabled = p.enabled
        windowMs = Int64(p.value("window", d))
        minShare = p.value("min_share", d)
        minTokens = p.value("min_tokens", d)
        yieldRatio = p.value("yield_ratio", d)
        ownRatio = p.value("own_ratio", d)
        minHistoryWeeks = max(1, Int(p.value("min_history_weeks", d)))
        ownMinShare = p.value("own_min_share", d)
        minUsers = Int(p.value("min_users", d))
    }

    /// What a week's share in the window is compared with.
    struct SprintBaseline: Sendable, Equatable {
        /// The usual share: the user's own, or the organisation's median (0 when unknown).
        var share = 0.0
        /// Earlier weeks of the user's own it comes from; 0: the organisation's median.
        var ownWeeks = 0
    }

    /// The user's own baseline once there are enough earlier weeks, else the organisation's median week.
    func baseline(_ s: UserSignals, organisation: PeerReference?) -> SprintBaseline {
        if Int(s.sprintWeeks) >= minHistoryWeeks { return SprintBaseline(share: Double(s.sprintShare), ownWeeks: Int(s.sprintWeeks)) }
        guard let org = organisation, org.weekUsers >= minUsers else { return SprintBaseline() }
        return SprintBaseline(share: org.weekMedianLateShare, ownWeeks: 0)
    }

    /// The share in the window that counts as a sprint against `b`.
    func threshold(_ b: SprintBaseline) -> Double {
        max(b.ownWeeks > 0 ? ownMinShare : minShare, ownRatio * b.share)
    }

    /// Folds a finished week into the user's own baseline (not a week the rule fired on: a sprint must
    /// not become what is usual).
    static func fold(_ s: inout UserSignals, week: Int64, late: Int64) {
        guard week > 0 else { return }
        let share = Double(late) / Double(week)
        s.sprintWeeks = s.sprintWeeks == .max ? .max : s.sprintWeeks + 1
        s.sprintShare += Float((share - Double(s.sprintShare)) / Double(min(Int(s.sprintWeeks), 4)))
    }

    func evaluate(_ book: WeekBook, user u: Int, baseline: SprintBaseline = SprintBaseline()) -> (score: Double, evidence: Evidence)? {
        let week = Double(book.tokens[u]), late = Double(book.lateTokens[u])
        guard late >= minTokens, week > 0 else { return nil }
        let share = late / week
        let needed = threshold(baseline)
        guard share >= needed else { return nil }
        let lateOutcomes = Double(book.lateOutcomes[u])
        let restTokens = week - late
        let restOutcomes = Double(book.outcomes[u]) - lateOutcomes
        let restYield = restTokens > 0 ? restOutcomes / restTokens : 0
        // With nothing else in the week to compare with, the share alone decides.
        if restTokens > 0 && restOutcomes > 0 {
            guard lateOutcomes < yieldRatio * restYield * late else { return nil }
        }
        let evidence = Evidence(a: late, b: week, c: share, d: lateOutcomes / late * 100_000,
                                e: restYield * 100_000, f: Double(book.cutoff), g: baseline.share, h: Double(baseline.ownWeeks))
        return (exceedScore(share, over: needed), evidence)
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
        w.key("usual_share"); w.decimal(e.g, decimals: 4)
        w.key("usual_from"); w.string(e.h > 0 ? "own_weeks" : "organisation")
        if e.h > 0 { w.key("own_weeks"); w.int(Int64(e.h)) }
        w.endObject()
        return "\(user) put \(AlertText.percent(e.c)) of the week's \(AlertText.tokens(e.b)) tokens into the "
            + "\(AlertText.duration(ms: windowMs)) before the \(AlertText.utc(Int64(e.f))) cutoff, at "
            + "\(AlertText.fixed(e.d, 1)) outcomes per 100k tokens against \(AlertText.fixed(e.e, 1)) the rest of the week"
            + usualText(e)
    }

    /// `; usually 6% (their own 3 earlier weeks)`, `; the median user put 4% there`, or nothing without a baseline.
    func usualText(_ e: Evidence) -> String {
        if e.h > 0 { return "; usually \(AlertText.percent(e.g)) (their own \(Int64(e.h)) earlier weeks)" }
        return e.g > 0 ? "; the median user put \(AlertText.percent(e.g)) there" : ""
    }
}
