import Testing
@testable import TokenwatchConfig

@Suite("inputs: topics and formats, with kafka.input_topic as the one-input shorthand")
struct InputsTests {
    @Test func shorthandIsOneNativeInput() throws {
        let config = try load("kafka:\n  input_topic: usage\n")
        #expect(config.inputs == [])
        #expect(config.effectiveInputs == [InputSettings(topic: "usage", format: .tokenwatch)])
    }

    @Test func listOfMappings() throws {
        let yaml = """
            inputs:
              - {topic: ai-usage, format: tokenwatch}
              - topic: otel-logs
                format: otlp
              - {topic: more}
            """
        let config = try load(yaml)
        #expect(config.effectiveInputs == [
            InputSettings(topic: "ai-usage", format: .tokenwatch), InputSettings(topic: "otel-logs", format: .otlp),
            InputSettings(topic: "more", format: .tokenwatch),
        ])
    }

    @Test func environmentWritesTopicColonFormat() throws {
        let config = try load("", environment: ["TOKENWATCH_INPUTS": "a:otlp, b"])
        #expect(config.inputs == [InputSettings(topic: "a", format: .otlp), InputSettings(topic: "b")])
    }

    @Test func unknownFormatNamesKeyAndLine() throws {
        let error = try #require(loadError("inputs:\n  - {topic: a}\n  - {topic: b, format: protobuf}\n"))
        #expect(error.line == 3)
        #expect(error.key == "inputs")
        #expect(error.message.contains("\"protobuf\""))
    }

    @Test func unknownFieldNamesItsLine() throws {
        let error = try #require(loadError("inputs:\n  - topic: a\n    fromat: otlp\n"))
        #expect(error.line == 3)
        #expect(error.key == "inputs.fromat")
    }

    @Test func repeatedTopicIsAnError() throws {
        let error = try #require(loadError("inputs:\n  - {topic: a}\n  - {topic: a, format: otlp}\n"))
        #expect(error.line == 3)
        #expect(error.message.contains("twice"))
    }

    @Test func badTopicAndMissingTopic() throws {
        #expect(try #require(loadError("inputs:\n  - {topic: 'a b'}\n")).line == 2)
        #expect(try #require(loadError("inputs:\n  - {format: otlp}\n")).line == 2)
    }

    @Test func redactedYAMLLoadsBack() throws {
        let config = try load("inputs:\n  - {topic: x, format: otlp}\n")
        #expect(try load(config.redactedYAML()) == config)
    }
}
