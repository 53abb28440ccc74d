import CRdKafka

/// Builds `rd_kafka_conf_t` objects from string properties: our defaults first, then the caller's values.
enum KafkaConfiguration {
    /// A new `rd_kafka_conf_t` holding `defaults` overridden by `configuration`.
    /// The caller owns the result until `rd_kafka_new` succeeds; on a bad key or value nothing leaks and the
    /// error carries librdkafka's text (e.g. `No such configuration property: "foo"`).
    static func make(
        _ configuration: [String: String],
        defaults: KeyValuePairs<String, String>
    ) throws(KafkaError) -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError(RD_KAFKA_RESP_ERR__FAIL, message: "rd_kafka_conf_new failed")
        }
        do {
            for (key, value) in defaults where configuration[key] == nil {
                try set(conf, key, value)
            }
            // Sorted so that a failure names the same key every run.
            for key in configuration.keys.sorted() {
                try set(conf, key, configuration[key]!)
            }
        } catch {
            rd_kafka_conf_destroy(conf)
            throw error
        }
        return conf
    }

    /// Sets one property, throwing librdkafka's explanation on failure.
    static func set(_ conf: OpaquePointer, _ key: String, _ value: String) throws(KafkaError) {
        var errstr = [CChar](repeating: 0, count: 512)
        let result = errstr.withUnsafeMutableBufferPointer { buffer in
            rd_kafka_conf_set(conf, key, value, buffer.baseAddress, buffer.count)
        }
        guard result == RD_KAFKA_CONF_OK else {
            let text = String(decoding: errstr.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw KafkaError(RD_KAFKA_RESP_ERR__INVALID_ARG, message: text.isEmpty ? "invalid configuration \(key)" : text)
        }
    }

    /// Creates the handle; on failure destroys `conf` (librdkafka owns it only on success).
    static func newHandle(_ type: rd_kafka_type_t, conf: OpaquePointer) throws(KafkaError) -> OpaquePointer {
        var errstr = [CChar](repeating: 0, count: 512)
        let rk = errstr.withUnsafeMutableBufferPointer { buffer in
            rd_kafka_new(type, conf, buffer.baseAddress, buffer.count)
        }
        guard let rk else {
            rd_kafka_conf_destroy(conf)
            let text = String(decoding: errstr.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw KafkaError(RD_KAFKA_RESP_ERR__INVALID_ARG, message: text.isEmpty ? "rd_kafka_new failed" : text)
        }
        return rk
    }
}

extension Duration {
    /// Whole milliseconds for librdkafka's `int timeout_ms`, clamped to `0...Int32.max`.
    var kafkaMilliseconds: Int32 {
        let (seconds, attoseconds) = components
        if seconds < 0 || (seconds == 0 && attoseconds <= 0) { return 0 }
        let (ms, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        if overflow { return Int32.max }
        return Int32(clamping: ms + attoseconds / 1_000_000_000_000_000)
    }
}
