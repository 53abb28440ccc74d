/// The `kafka:` section: where to read and write.
public struct KafkaSettings: Sendable, Equatable {
    /// Bootstrap brokers, comma-separated `host:port` (key `brokers`, default `127.0.0.1:9092`).
    public var brokers: String = "127.0.0.1:9092"
    /// Consumer group shared by every instance (key `group_id`, default `tokenwatch`).
    public var groupId: String = "tokenwatch"
    /// Topic of usage events (key `input_topic`, default `ai-usage`).
    public var inputTopic: String = "ai-usage"
    /// Topic of leaderboard snapshots (key `leaderboard_topic`, default `tokenwatch.leaderboard`).
    public var leaderboardTopic: String = "tokenwatch.leaderboard"
    /// Topic of alerts (key `alerts_topic`, default `tokenwatch.alerts`).
    public var alertsTopic: String = "tokenwatch.alerts"
    /// Topic of rejected input (key `deadletter_topic`, default `tokenwatch.deadletter`).
    public var deadletterTopic: String = "tokenwatch.deadletter"
    /// Prefix of the topics tokenwatch keeps for itself, e.g. `<prefix>leader` (key `internal_topic_prefix`,
    /// default `tokenwatch.internal.`).
    public var internalTopicPrefix: String = "tokenwatch.internal."
    /// Extra librdkafka properties passed as they are, e.g. `security.protocol` (key `librdkafka`,
    /// default empty). Secret properties (see `isSecretLibrdkafkaProperty`) come from the environment only.
    public var librdkafka: [String: String] = [:]

    /// The defaults.
    public init() {}

    /// `brokers` split at commas, blanks removed.
    public var brokerList: [String] {
        brokers.split(separator: ",").map { String($0).trimmingBlanks() }.filter { !$0.isEmpty }
    }

    /// Whether a librdkafka property holds a secret and so may only come from the environment:
    /// `sasl.password`, `ssl.key.password`, `ssl.keystore.password`, `sasl.oauthbearer.client.secret`,
    /// `ssl.key.pem`, `sasl.oauthbearer.config` and `sasl.oauthbearer.extensions` (free-form `key=value`
    /// lists that carry the unsecured JWT's principal and claims, or tokens), and any name containing
    /// `password` or `secret`.
    public static func isSecretLibrdkafkaProperty(_ name: String) -> Bool {
        let lower = name.lowercased()
        let named: Set<String> = [
            "sasl.password", "ssl.key.password", "ssl.keystore.password",
            "sasl.oauthbearer.client.secret", "ssl.key.pem",
            "sasl.oauthbearer.config", "sasl.oauthbearer.extensions",
        ]
        return named.contains(lower) || lower.contains("password") || lower.contains("secret")
    }
}
