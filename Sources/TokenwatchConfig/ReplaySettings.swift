/// The `replay:` section.
public struct ReplaySettings: Sendable, Equatable {
    /// Prefix of the output topics a replay from Kafka writes to, so it never mixes with live output
    /// (key `topic_prefix`, default `replay.`).
    public var topicPrefix: String = "replay."

    /// The defaults.
    public init() {}
}
