import TokenwatchConfig

extension KafkaSettings {
    /// The librdkafka properties of a client of the configured cluster: the caller's `defaults`, then
    /// `kafka.librdkafka` as it is (security protocol, SASL, TLS, tuning), then `bootstrap.servers`
    /// from `kafka.brokers`.
    public func clientProperties(defaults: [String: String] = [:]) -> [String: String] {
        var properties = defaults
        properties.merge(librdkafka) { _, configured in configured }
        properties["bootstrap.servers"] = brokers
        return properties
    }
}
