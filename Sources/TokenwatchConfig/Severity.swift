/// How urgent an alert is. Ordered: `info` < `warning` < `critical`.
public enum Severity: String, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    case info
    case warning
    case critical

    /// `info`, `warning` or `critical`.
    public var description: String { rawValue }

    /// `info` < `warning` < `critical`.
    public static func < (lhs: Severity, rhs: Severity) -> Bool {
        lhs.rank < rhs.rank
    }

    private var rank: Int {
        switch self {
        case .info: 0
        case .warning: 1
        case .critical: 2
        }
    }
}
