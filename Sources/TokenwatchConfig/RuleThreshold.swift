/// One tunable number of a rule, as written under `rules.<rule>.<key>` in the configuration.
public struct RuleThreshold: Sendable, Equatable {
    /// How the value is written in the configuration and stored in `RuleSettings.thresholds`.
    public enum Unit: Sendable, Equatable {
        /// A plain number (`3.5`, `50000`), stored as it is.
        case number
        /// A duration (`30s`, `5m`, `2h`), stored as milliseconds.
        case duration
    }

    /// The key under the rule's map, e.g. `min_tokens`. Lower-case with underscores.
    public var key: String
    /// The value used when the configuration does not set one (milliseconds for `.duration`).
    public var defaultValue: Double
    /// One line saying what the threshold does; used in the example configuration and `--help` texts.
    public var doc: String
    /// How the value is written (default `.number`).
    public var unit: Unit
    /// The values accepted (default: any number ≥ 0).
    public var range: ClosedRange<Double>

    /// A plain-number threshold, e.g. `.number("min_tokens", default: 50_000, doc: "...")`.
    public static func number(
        _ key: String, default defaultValue: Double, doc: String,
        range: ClosedRange<Double> = 0...Double.greatestFiniteMagnitude
    ) -> RuleThreshold {
        RuleThreshold(key: key, defaultValue: defaultValue, doc: doc, unit: .number, range: range)
    }

    /// A duration threshold written `30s`, `5m`, `2h`; the default is given in milliseconds.
    public static func duration(_ key: String, defaultMs: Int64, doc: String) -> RuleThreshold {
        RuleThreshold(
            key: key, defaultValue: Double(defaultMs), doc: doc, unit: .duration,
            range: 0...Double.greatestFiniteMagnitude)
    }

    /// A threshold; prefer `.number(...)` or `.duration(...)`.
    public init(key: String, defaultValue: Double, doc: String, unit: Unit = .number, range: ClosedRange<Double>) {
        self.key = key
        self.defaultValue = defaultValue
        self.doc = doc
        self.unit = unit
        self.range = range
    }
}
