/// The `logging:` section: how log lines are written.
public struct LoggingSettings: Sendable, Equatable {
    /// How each line is written.
    public enum Format: String, Sendable, CaseIterable {
        /// `<time> <level> <logger>: <message> <metadata>`, for people and journald.
        case text
        /// One JSON object per line, for log shippers.
        case json
    }

    /// The least severe level written; swift-log's level names.
    public enum Level: String, Sendable, CaseIterable {
        case trace, debug, info, notice, warning, error, critical
    }

    /// Key `format`, default `text`.
    public var format: Format = .text
    /// Key `level`, default `info`.
    public var level: Level = .info

    /// The defaults.
    public init() {}
}
