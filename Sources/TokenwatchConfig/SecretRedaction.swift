/// Secrets never reach a log line through string interpolation, `print`, `dump` or a framework that
/// describes values it holds (swift-service-lifecycle logs every service's description at debug level,
/// and a service holding the configuration would otherwise print the SASL password and the bearer token).
/// The settings that may hold secrets describe themselves with the secret values replaced.

extension KafkaSettings: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// `librdkafka` with the values of secret properties replaced by `<redacted>`.
    public var redactedLibrdkafka: [String: String] {
        var out: [String: String] = [:]
        for (key, value) in librdkafka {
            out[key] = Self.isSecretLibrdkafkaProperty(key) ? TokenwatchConfiguration.redactedPlaceholder : value
        }
        return out
    }

    public var description: String {
        let properties = redactedLibrdkafka.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
        return "KafkaSettings(brokers: \(brokers), groupId: \(groupId), inputTopic: \(inputTopic), "
            + "leaderboardTopic: \(leaderboardTopic), alertsTopic: \(alertsTopic), deadletterTopic: \(deadletterTopic), "
            + "librdkafka: [\(properties)])"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: [
            "brokers": brokers, "groupId": groupId, "inputTopic": inputTopic, "leaderboardTopic": leaderboardTopic,
            "alertsTopic": alertsTopic, "deadletterTopic": deadletterTopic, "librdkafka": redactedLibrdkafka,
        ])
    }
}

extension HTTPSettings: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "HTTPSettings(listen: \(listen), bearerToken: \(bearerToken == nil ? "none" : TokenwatchConfiguration.redactedPlaceholder))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: ["listen": listen, "bearerToken": bearerToken == nil ? "none" : TokenwatchConfiguration.redactedPlaceholder])
    }
}

extension PrivacySettings: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private var redactedKey: String { pseudonymKey == nil ? "none" : TokenwatchConfiguration.redactedPlaceholder }

    public var description: String {
        "PrivacySettings(minGroupSize: \(minGroupSize), pseudonymize: \(pseudonymize), pseudonymKey: \(redactedKey))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: ["minGroupSize": minGroupSize, "pseudonymize": pseudonymize, "pseudonymKey": redactedKey])
    }
}
