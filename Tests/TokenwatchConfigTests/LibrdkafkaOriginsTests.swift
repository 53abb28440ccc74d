import Foundation
import Testing
import TokenwatchConfig

@Suite("Where each librdkafka property was set")
struct LibrdkafkaOriginsTests {
    @Test func fileLinesThenEnvironmentThenCommandLine() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("origins-\(getpid()).yaml").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data("kafka:\n  brokers: b:9092\n  librdkafka:\n    security.protocol: SSL\n    client.id: a\n    linger.ms: 5\n".utf8)
            .write(to: URL(fileURLWithPath: path))
        let origins = LibrdkafkaOrigins.locate(
            path: path, environment: ["TOKENWATCH_KAFKA_LIBRDKAFKA_CLIENT_ID": "b", "TOKENWATCH_KAFKA_BROKERS": "x:1"],
            overrides: ["kafka.librdkafka.linger.ms": "7"])
        #expect(origins.error(property: "security.protocol", message: "m").description == "\(path):4: kafka.librdkafka.security.protocol: m")
        #expect(origins.error(property: "client.id", message: "m").description == "environment: TOKENWATCH_KAFKA_LIBRDKAFKA_CLIENT_ID: m")
        #expect(origins.error(property: "linger.ms", message: "m").description == "command line: kafka.librdkafka.linger.ms: m")
        #expect(origins.origins.count == 3)
    }
}
