import ArgumentParser
import TokenwatchConfig

/// `--config` and `--brokers`, shared by every subcommand that talks to Kafka, so each reads its
/// configuration exactly like `run`: defaults < file < environment (`TOKENWATCH_KAFKA_BROKERS`, …) <
/// flags, with `kafka.librdkafka` (security protocol, SASL, TLS) passed to its clients.
struct KafkaClientOptions: ParsableArguments {
    @Option(help: "Configuration file (default: $TOKENWATCH_CONFIG, else /etc/tokenwatch/tokenwatch.yaml when present).")
    var config: String?
    @Option(help: "Bootstrap brokers, HOST:PORT,... (default: kafka.brokers of the configuration).")
    var brokers: String?

    /// The configuration with `--brokers` and `overrides` (key path → value) over file and environment;
    /// a bad one exits 2 naming the key.
    func load(_ overrides: [String: String] = [:]) throws -> TokenwatchConfiguration {
        var all = overrides
        if let brokers { all["kafka.brokers"] = brokers }
        return try loadConfiguration(path: config, overrides: all)
    }
}
