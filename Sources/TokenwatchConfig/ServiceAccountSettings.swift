/// The `service_accounts:` section.
public struct ServiceAccountSettings: Sendable, Equatable {
    /// Glob patterns (`*` only) naming service accounts, kept off people's boards and alerts
    /// (key `patterns`, default `["svc-*", "*-bot"]`).
    public var patterns: [String] = ["svc-*", "*-bot"]

    /// The defaults.
    public init() {}
}
