import TokenwatchCore

/// The `privacy:` section.
public struct PrivacySettings: Sendable, Equatable {
    /// Teams with fewer known members get no board and no adoption figures (key `min_group_size`, default 5; 1: off).
    public var minGroupSize = 5
    /// Replace user ids on boards with a keyed hash (key `pseudonymize`, default false).
    public var pseudonymize = false
    /// The hash key; a secret, from `TOKENWATCH_PRIVACY_PSEUDONYM_KEY` only (key `pseudonym_key`).
    public var pseudonymKey: String?

    /// The defaults.
    public init() {}

    /// As the core takes it.
    public var core: PrivacyConfiguration {
        PrivacyConfiguration(minGroupSize: minGroupSize, pseudonymKey: pseudonymize ? pseudonymKey.map { Array($0.utf8) } : nil)
    }
}
