/// The effective settings of one rule: `rules.<rule>` in the configuration, over the catalog's defaults.
public struct RuleSettings: Sendable, Equatable {
    /// Whether the rule runs at all (default: the catalog's, `true` for every rule today).
    public var enabled: Bool
    /// Severity of the alerts it raises (default: the catalog's).
    public var severity: Severity
    /// Per-(user, rule) quiet period after an alert, in milliseconds of event time; also how long the
    /// behaviour must have stopped before the alert is resolved (key `cooldown`, default 6h).
    public var cooldownMs: Int64
    /// Every threshold the catalog lists for the rule, by key (milliseconds for duration thresholds).
    /// Always complete: keys absent from the configuration hold the catalog's default.
    public var thresholds: [String: Double]

    /// Settings as given; the loader starts from `RuleDefinition.defaultSettings`.
    public init(enabled: Bool, severity: Severity, cooldownMs: Int64, thresholds: [String: Double]) {
        self.enabled = enabled
        self.severity = severity
        self.cooldownMs = cooldownMs
        self.thresholds = thresholds
    }

    /// The value of threshold `key`. The loader fills in every threshold the catalog lists, so asking
    /// for a key the catalog does not list is a programming error.
    public func threshold(_ key: String) -> Double {
        guard let value = thresholds[key] else {
            preconditionFailure("threshold '\(key)' is not in the rule catalog")
        }
        return value
    }
}
