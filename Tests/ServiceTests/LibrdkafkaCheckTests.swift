import Testing
import TokenwatchConfig
@testable import TokenwatchService

@Suite("librdkafka checks the configured properties")
struct LibrdkafkaCheckTests {
    static func kafka(_ properties: [String: String]) -> KafkaSettings {
        var k = KafkaSettings()
        k.librdkafka = properties
        return k
    }

    @Test func aSecuredClusterConfigurationPasses() {
        #expect(LibrdkafkaCheck.check(Self.kafka([
            "security.protocol": "SASL_SSL", "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "tw", "sasl.password": "pw",
        ])) == nil)
    }

    @Test func anUnknownPropertyIsNamed() throws {
        let refusal = try #require(LibrdkafkaCheck.check(Self.kafka(["client.id": "x", "sesion.timeout.ms": "6000"])))
        #expect(refusal.property == "sesion.timeout.ms")
        #expect(refusal.client == "consumer")
        #expect(refusal.message.contains("No such configuration property"))
    }

    @Test func whatOnlyTheIdempotentProducerRefusesIsCaught() throws {
        let refusal = try #require(LibrdkafkaCheck.check(Self.kafka(["acks": "1"])))
        #expect(refusal.property == "acks")
        #expect(refusal.client == "producer")
    }

    @Test func aRefusedSecretIsNotRepeated() throws {
        let pem = "not-a-pem-canary-8731"
        let refusal = try #require(LibrdkafkaCheck.check(Self.kafka(["security.protocol": "ssl", "ssl.key.pem": pem])))
        #expect(!refusal.message.contains(pem))
    }

    @Test func theFirstPropertyTheMessageNamesWins() {
        let names = ["linger.ms", "acks", "enable.idempotence"]
        #expect(LibrdkafkaCheck.property(namedIn: "`acks` must be set to `all` when `enable.idempotence` is true", among: names) == "acks")
        #expect(LibrdkafkaCheck.property(namedIn: "ssl.ca.location failed", among: ["ssl.ca", "ssl.ca.location"]) == "ssl.ca.location")
        #expect(LibrdkafkaCheck.property(namedIn: "something else", among: names) == nil)
    }
}
