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
            thresholds: []),
        RuleDefinition(
            name: "peer_outlier",
            summary: "tokens far above the team's robust spread without matching outcomes",
            thresholds: []),
        RuleDefinition(
            name: "low_yield",
            summary: "large token volume with almost no outcomes compared with the team",
            thresholds: []),
        RuleDefinition(
            name: "machine_cadence",
            summary: "near-constant request intervals or round-the-clock activity from a person",
            thresholds: []),
        RuleDefinition(
            name: "duplicate_prompts",
            summary: "a large share of requests repeat a recent prompt_hash",
            thresholds: []),
        RuleDefinition(
            name: "leaderboard_sprint",
            summary: "a large share of the week's tokens just before the leaderboard cutoff",
            thresholds: []),
        RuleDefinition(
            name: "mandate_minimum",
            summary: "active in the week, but only trivially",
            defaultSeverity: .info,
            thresholds: []),
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
