import Kafka
import Testing

@Suite("KafkaError and configuration errors")
struct KafkaErrorTests {
    @Test("an unknown configuration key fails init with librdkafka's text")
    func unknownKey() {
        let (logger, _) = makeLogger("bad-config")
        #expect {
            _ = try KafkaConsumer(configuration: ["no.such.property": "1"], logger: logger)
        } throws: { error in
            guard let error = error as? KafkaError else { return false }
            return error.message.contains("No such configuration property") && error.message.contains("no.such.property")
                && error.code == -186 && !error.isRetriable
        }
        #expect(throws: KafkaError.self) {
            _ = try KafkaProducer(configuration: ["linger.ms": "soon"], logger: logger)
        }
        #expect(throws: KafkaError.self) {
            _ = try KafkaAdmin(configuration: ["bogus": "x"], logger: logger)
        }
    }

    @Test("description names the error")
    func description() {
        let error = KafkaError(code: -185, message: "Local: Timed out")
        #expect(error.description == "Local: Timed out (_TIMED_OUT)")
        #expect(error.isRetriable)
        #expect(!KafkaError(code: 36, message: "exists").isRetriable)
        #expect(KafkaError(code: -150, message: "fatal").isFatal)
    }
}
