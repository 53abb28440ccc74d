/// The tokenmaxxing rules the engine knows, and the defaults of their settings.
///
/// Every rule takes the common keys `enabled`, `severity` and `cooldown` (a duration, default 6h)
/// besides its own thresholds. Adding a threshold is one line in the rule's `thresholds` list, e.g.
/// `.number("min_tokens", default: 50_000, doc: "tokens in the last hour below which it never fires")`;
/// the configuration loader, the environment variables (`TOKENWATCH_RULES_<RULE>_<KEY>`) and the
/// redacted output follow. Document it in `config/tokenwatch.yaml` too: a test checks the example
/// lists every key.
public enum RuleCatalog {
    /// Keys every rule takes, besides its thresholds.
    public static let commonKeys: [String] = ["enabled", "severity", "cooldown"]

    /// Default per-(user, rule) cooldown: 6h.
    public static let defaultCooldownMs: Int64 = 6 * 3_600_000

    /// Every rule, in the order they are documented and printed, each with the escalation keys.
    public static let rules: [RuleDefinition] = ownRules.map { rule in
        var r = rule
        let padding = r.name == "mandate_minimum"  // a week's tininess is not certainty; a padder has no agent time
        r.thresholds += escalation(scoreDefault: padding ? 0 : 0.95, unattendedDefault: padding ? 0 : 0.05)
        return r
    }

    /// How every rule's alerts rise above its severity, declared once for all rules: a step for a high
    /// score, a step for persistence (the rule firing for the user on several days — weeks for the
    /// weekly rules — of the last 7), a step when the optional telemetry shows an hour or more of agent
    /// time with almost no person at the keyboard; never past `critical`. `mandate_minimum`'s score measures how tiny
    /// a week was, not certainty, so only persistence raises it by default.
    public static func escalation(scoreDefault: Double, unattendedDefault: Double) -> [RuleThreshold] {
        [
            .number("escalate_score", default: scoreDefault, doc: "an alert whose score reaches this fires a severity higher (0: never)", range: 0...1),
            .number("escalate_days", default: 3, doc: "an alert fires a severity higher when the rule fired for the user on this many of the last 7 days (weeks for weekly rules; 0: never)", range: 0...7),
            .number("escalate_unattended", default: unattendedDefault, doc: "an alert of a per-event rule fires a severity higher when the user's events up to it report a person's active time at most this share of an hour or more of agent time (0: never)", range: 0...1),
        ]
    }

    /// The rules with their own thresholds only.
    static let ownRules: [RuleDefinition] = [
        RuleDefinition(
            name: "volume_spike",
            summary: "last hour's tokens far above the user's own baseline",
            thresholds: [
                .number("min_tokens", default: 200_000, doc: "tokens in the hour below which it never fires"),
                .number("factor", default: 6, doc: "the hour's tokens reach this multiple of the user's baseline per active hour"),
                .number("yield_ratio", default: 0.35, doc: "and its outcomes stay below this share of what the baseline yield predicts", range: 0...1),
                .number("min_history_hours", default: 6, doc: "active hours of baseline needed before it can fire"),
                .number("baseline_hours", default: 40, doc: "span of the baseline's moving average, in active hours", range: 1...10_000),
            ]),
        RuleDefinition(
            name: "peer_outlier",
            summary: "tokens far above the team's robust spread without matching outcomes",
            thresholds: [
                .duration("window", defaultMs: 86_400_000, doc: "the board window compared (the longest when no window has this length)"),
                .duration("evaluate_every", defaultMs: 3_600_000, doc: "compared at event times that are multiples of this"),
                .number("min_tokens", default: 500_000, doc: "tokens in the window below which it never fires"),
                .number("min_ratio", default: 4, doc: "tokens reach this multiple of the team's median"),
                .number("mad_factor", default: 5, doc: "and this many robust deviations (1.4826 × MAD) above it"),
                .number("yield_ratio", default: 0.25, doc: "with outcomes per token below this share of the team's median", range: 0...1),
                .number("min_team_size", default: 5, doc: "teams with fewer active users are not compared", range: 2...1_000_000),
                .number("team_ratio", default: 3, doc: "a team whose median reaches this multiple of the median team's ...", range: 1...1_000_000),
                .number("team_yield_ratio", default: 0.5, doc: "... at a median yield below this share of everyone's is compared with the organisation", range: 0...1),
            ]),
        RuleDefinition(
            name: "low_yield",
            summary: "large token volume with almost no outcomes compared with the team",
            thresholds: [
                .duration("window", defaultMs: 86_400_000, doc: "the board window read (the longest when no window has this length)"),
                .duration("evaluate_every", defaultMs: 3_600_000, doc: "evaluated at event times that are multiples of this"),
                .number("min_tokens", default: 300_000, doc: "tokens in the window below which it never fires"),
                .number("max_yield_ratio", default: 0.1, doc: "fires below this share of the team's median outcomes per token", range: 0...1),
                .number("min_team_size", default: 3, doc: "smaller teams are compared with everyone instead", range: 1...1_000_000),
                .number("min_ratio", default: 5, doc: "and tokens reach this multiple of the reference median (a low yield at ordinary volume is a way of working)"),
                .number("team_ratio", default: 3, doc: "a team whose median reaches this multiple of the median team's ...", range: 1...1_000_000),
                .number("team_yield_ratio", default: 0.5, doc: "... at a median yield below this share of everyone's is compared with everyone", range: 0...1),
            ]),
        RuleDefinition(
            name: "machine_cadence",
            summary: "near-constant request intervals or round-the-clock activity from a person",
            thresholds: [
                .number("min_requests", default: 40, doc: "requests on the beat before it fires", range: 3...1_000_000),
                .duration("min_duration", defaultMs: 3_600_000, doc: "and the run lasted at least this long"),
                .number("max_cv", default: 0.05, doc: "largest std/mean of the intervals on the beat", range: 0...1),
                .number("tolerance", default: 0.15, doc: "an interval within this share of the period continues the run", range: 0...0.9),
                .duration("min_interval", defaultMs: 1_000, doc: "shorter intervals never start a run"),
                .number("active_hours", default: 22, doc: "also fires when active in this many of the last 24 hours (0: off)", range: 0...24),
                .duration("stretch", defaultMs: 18_000_000, doc: "also fires on an unbroken stretch this long (0: off) ..."),
                .duration("break", defaultMs: 1_800_000, doc: "... with no gap longer than this between requests ..."),
                .number("stretch_min_requests", default: 60, doc: "... and at least this many requests ...", range: 3...1_000_000),
                .number("max_burstiness", default: 0.2, doc: "... whose gaps have at most this Goh–Barabási burstiness (0 memoryless, -1 a clock) ...", range: -1...1),
                .number("stretch_yield_ratio", default: 0.65, doc: "... at outcomes per request below this share of the user's own rate", range: 0...1),
                .number("stretch_days", default: 3, doc: "also fires, whatever the outcomes, when such stretches (long, busy, not bursty) came on this many of the last 7 days (0: off)", range: 0...7),
            ]),
        RuleDefinition(
            name: "duplicate_prompts",
            summary: "a large share of requests repeat a recent prompt_hash or, paraphrased, the same context",
            thresholds: [
                .number("min_share", default: 0.3, doc: "share of the last 64 hashed requests that repeat one of the 16 recent prompts or the context of one of the last 4", range: 0...1),
                .number("min_requests", default: 32, doc: "hashed requests seen before it can fire", range: 1...64),
                .number("size_tolerance", default: 0.005, doc: "input tokens within this share of a recent request's are the same context again (0: off)", range: 0...1),
                .number("min_size", default: 500, doc: "requests with fewer input tokens are never the same context"),
            ]),
        RuleDefinition(
            name: "leaderboard_sprint",
            summary: "a large share of the week's tokens just before the leaderboard cutoff",
            thresholds: [
                .duration("window", defaultMs: 172_800_000, doc: "how long before leaderboard.weekly_cutoff counts as the sprint"),
                .number("min_share", default: 0.5, doc: "share of the week's tokens in that window", range: 0...1),
                .number("min_tokens", default: 300_000, doc: "tokens in that window below which it never fires"),
                .number("yield_ratio", default: 0.5, doc: "with outcomes per token below this share of the rest of the week's", range: 0...1),
                .number("own_ratio", default: 3, doc: "and the share reaches this multiple of the usual one: the user's own earlier weeks', else the organisation's median"),
                .number("min_history_weeks", default: 2, doc: "earlier active weeks (not sprints) needed before the user's own share is the usual one", range: 1...255),
                .number("own_min_share", default: 0.3, doc: "against the user's own weeks, a share from this up can fire (instead of min_share)", range: 0...1),
                .number("min_users", default: 20, doc: "active users in the week needed before the organisation's median counts"),
            ]),
        RuleDefinition(
            name: "mandate_minimum",
            summary: "active in the week, but only trivially",
            defaultSeverity: .info,
            thresholds: [
                .number("max_requests", default: 3, doc: "at most this many requests in the week"),
                .number("max_tokens", default: 3_000, doc: "and at most this many tokens"),
                .number("relative_share", default: 0.05, doc: "or both requests and tokens within this share of the week's medians (0: off)", range: 0...1),
                .number("min_users", default: 20, doc: "active users in the week needed before the medians count"),
                .number("bunching_band", default: 5, doc: "organisation check: up to this multiple of max_requests and max_tokens is just above the minimum, up to its square the next band (0: off)"),
                .number("bunching_min_users", default: 5, doc: "users just above the minimum needed before bunching counts ...", range: 1...1_000_000),
                .number("bunching_ratio", default: 2, doc: "... and this multiple of the next band's users; then every user just above is trivially active"),
            ]),
        RuleDefinition(
            name: "hollow_outcomes",
            summary: "outcomes that are hollow against the user's own rate: accepted steps without code, or repeated heavy hours with nothing to show",
            thresholds: [
                .number("min_tokens", default: 200_000, doc: "tokens in the hour below which the hour is ordinary"),
                .number("min_accepted", default: 15, doc: "accepted requests in a heavy hour needed to judge their substance", range: 1...1_000_000),
                .number("max_lines_per_accept", default: 2, doc: "fires when they average at most this many lines, with no commit or PR"),
                .number("yield_ratio", default: 0.2, doc: "a heavy hour is hollow below this share of the outcomes the user's own rate predicts", range: 0...1),
                .number("min_hours", default: 3, doc: "fires on this many hollow hours within span_hours", range: 1...64),
                .number("span_hours", default: 48, doc: "how far back hollow hours count", range: 1...64),
                .number("min_history_hours", default: 4, doc: "ordinary hours with reported outcomes needed before the user's own rate counts"),
                .number("baseline_hours", default: 40, doc: "span of the own rate's moving average, in hours", range: 1...10_000),
            ]),
    ]

    /// The rule named `name`, if there is one.
    public static func rule(named name: String) -> RuleDefinition? {
        rules.first { $0.name == name }
    }

    /// The settings of every rule when the configuration says nothing.
    public static var defaultSettings: [String: RuleSettings] {
        Dictionary(uniqueKeysWithValues: rules.map { ($0.name, $0.defaultSettings) })
    }
}
