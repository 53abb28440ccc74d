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

    /// Every rule, in the order they are documented and printed.
    public static let rules: [RuleDefinition] = [
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
            ]),
        RuleDefinition(
            name: "duplicate_prompts",
            summary: "a large share of requests repeat a recent prompt_hash",
            thresholds: [
                .number("min_share", default: 0.5, doc: "share of the last 64 hashed requests that repeat one of the 16 recent prompts", range: 0...1),
                .number("min_requests", default: 32, doc: "hashed requests seen before it can fire", range: 1...64),
            ]),
        RuleDefinition(
            name: "leaderboard_sprint",
            summary: "a large share of the week's tokens just before the leaderboard cutoff",
            thresholds: [
                .duration("window", defaultMs: 86_400_000, doc: "how long before leaderboard.weekly_cutoff counts as the sprint"),
                .number("min_share", default: 0.5, doc: "share of the week's tokens in that window", range: 0...1),
                .number("min_tokens", default: 300_000, doc: "tokens in that window below which it never fires"),
                .number("yield_ratio", default: 0.5, doc: "with outcomes per token below this share of the rest of the week's", range: 0...1),
            ]),
        RuleDefinition(
            name: "mandate_minimum",
            summary: "active in the week, but only trivially",
            defaultSeverity: .info,
            thresholds: [
                .number("max_requests", default: 3, doc: "at most this many requests in the week"),
                .number("max_tokens", default: 3_000, doc: "and at most this many tokens"),
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
