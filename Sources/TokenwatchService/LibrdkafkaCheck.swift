import Kafka
import Logging
import TokenwatchConfig

/// Hands the configured librdkafka properties to librdkafka itself, the way the daemon's consumer and
/// producer get them (with the wrappers' own defaults), so that a property librdkafka does not know or
/// a value it refuses is a configuration error before anything runs, not a failure of `run` later.
///
/// No `bootstrap.servers` is given: the clients are created and destroyed without connecting anywhere.
public enum LibrdkafkaCheck {
    /// What librdkafka refused.
    public struct Refusal: Sendable, Equatable, Error {
        /// The configured property librdkafka's message names, when it names one.
        public var property: String?
        /// `consumer` or `producer`: the client that refused it.
        public var client: String
        /// librdkafka's text, with the values of secret properties replaced by `<redacted>`.
        public var message: String
    }

    /// The first refusal, consumer first; nil when both clients accept `kafka.librdkafka`.
    public static func check(_ kafka: KafkaSettings) -> Refusal? {
        let properties = kafka.librdkafka
        // The clients log through a queue nobody serves here; nothing is printed.
        let quiet = Logger(label: "tokenwatch.librdkafka-check", factory: { _ in SwiftLogNoOpLogHandler() })
        do {
            let consumer = try KafkaConsumer(configuration: properties, logger: quiet)
            consumer.close()
        } catch {
            return refusal(error, client: "consumer", kafka)
        }
        do {
            _ = try KafkaProducer(configuration: properties, logger: quiet)
        } catch {
            return refusal(error, client: "producer", kafka)
        }
        return nil
    }

    private static func refusal(_ error: KafkaError, client: String, _ kafka: KafkaSettings) -> Refusal {
        var message = error.message
        for (name, value) in kafka.librdkafka where KafkaSettings.isSecretLibrdkafkaProperty(name) && !value.isEmpty {
            message = message.replacing(value, with: TokenwatchConfiguration.redactedPlaceholder)
        }
        return Refusal(property: property(namedIn: error.message, among: kafka.librdkafka.keys), client: client, message: message)
    }

    /// The property of `names` that `message` mentions first (librdkafka quotes them:
    /// `No such configuration property: "sesion.timeout.ms"`, `` `acks` must be set to `all` ``), the
    /// longest when several start at the same place; nil when none is mentioned.
    static func property(namedIn message: String, among names: some Collection<String>) -> String? {
        var best: (name: String, at: String.Index)?
        for name in names {
            guard let range = message.range(of: name) else { continue }
            if best == nil || range.lowerBound < best!.at || (range.lowerBound == best!.at && name.count > best!.name.count) {
                best = (name, range.lowerBound)
            }
        }
        return best?.name
    }
}
