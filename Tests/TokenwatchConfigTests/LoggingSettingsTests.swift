import Testing
import TokenwatchConfig

@Suite("logging.format and logging.level")
struct LoggingSettingsTests {
    @Test func defaultsAreTextAtInfo() throws {
        let config = try load("")
        #expect(config.logging.format == .text)
        #expect(config.logging.level == .info)
    }

    @Test func fileThenEnvironment() throws {
        let config = try load("logging:\n  format: JSON\n  level: debug\n", environment: ["TOKENWATCH_LOGGING_LEVEL": "warning"])
        #expect(config.logging.format == .json)
        #expect(config.logging.level == .warning)
        #expect(config.redactedYAML().contains("logging:\n  format: json\n  level: warning\n"))
    }

    @Test func aBadValueNamesKeyAndLine() throws {
        let error = try #require(loadError("logging:\n  format: xml\n"))
        #expect(error.description == #"tokenwatch.yaml:2: logging.format: "xml" is not a log format (write text or json)"#)
        let level = try #require(loadError("", environment: ["TOKENWATCH_LOGGING_LEVEL": "loud"]))
        #expect(level.key == "TOKENWATCH_LOGGING_LEVEL")
        #expect(level.message.contains("trace, debug, info, notice, warning, error or critical"))
    }
}
