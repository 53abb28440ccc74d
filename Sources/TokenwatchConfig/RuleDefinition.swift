/// A rule the engine knows, with the defaults of its settings; see `RuleCatalog`.
public struct RuleDefinition: Sendable, Equatable {
    /// The rule's name as it appears in alerts and under `rules:` (e.g. `volume_spike`).
    public var name: String
    /// What the rule catches, in one line.
    public var summary: String
    /// Severity used when the configuration sets none.
    public var defaultSeverity: Severity
    /// Whether the rule runs when the configuration does not say (default `true`).
    public var defaultEnabled: Bool
    /// Cooldown used when the configuration sets none (default 6h).
    public var defaultCooldownMs: Int64
    /// The rule's own tunable numbers, besides the common `enabled`, `severity` and `cooldown`.
    public var thresholds: [RuleThreshold]

    /// A rule; by default enabled, `warning`, with the common 6h cooldown and no thresholds.
    public init(
        name: String, summary: String, defaultSeverity: Severity = .warning, defaultEnabled: Bool = true,
        defaultCooldownMs: Int64 = RuleCatalog.defaultCooldownMs, thresholds: [RuleThreshold] = []
    ) {
        self.name = name
        self.summary = summary
        self.defaultSeverity = defaultSeverity
        self.defaultEnabled = defaultEnabled
        self.defaultCooldownMs = defaultCooldownMs
        self.thresholds = thresholds
    }

    /// The settings a configuration that says nothing about this rule gets.
    public var defaultSettings: RuleSettings {
        RuleSettings(
            enabled: defaultEnabled, severity: defaultSeverity, cooldownMs: defaultCooldownMs,
            thresholds: Dictionary(uniqueKeysWithValues: thresholds.map { ($0.key, $0.defaultValue) }))
    }

    /// The threshold named `key`, if the rule has one.
    public func threshold(named key: String) -> RuleThreshold? {
        thresholds.first { $0.key == key }
    }
}
