import Testing
@testable import TokenwatchConfig

@Suite("Errors in the file name the key, the line, the value and what is expected")
struct FileErrorTests {
    @Test func unknownTopLevelKey() throws {
        let error = try #require(loadError("kafka:\n  brokers: h:1\nleaderbord:\n  top_k: 3\n"))
        #expect(error.line == 3)
        #expect(error.key == "leaderbord")
        #expect(error.description == "tokenwatch.yaml:3: leaderbord: unknown key; did you mean 'leaderboard'?")
    }

    @Test func unknownKeyInASection() throws {
        let yaml = """
            # comment
            kafka:
              brokers: "127.0.0.1:9092"

            engine:
              idle_timeout: 30s
              alowed_lateness: 5m
            """
        let error = try #require(loadError(yaml))
        #expect(
            error.description
                == "tokenwatch.yaml:7: engine.alowed_lateness: unknown key; did you mean 'engine.allowed_lateness'?")
    }

    @Test func unknownKeyInARule() throws {
        let yaml = """
            rules:
              volume_spike:
                enabled: true
                severty: critical
            """
        let error = try #require(loadError(yaml))
        #expect(error.line == 4)
        #expect(error.key == "rules.volume_spike.severty")
        #expect(error.message.contains("did you mean 'rules.volume_spike.severity'?"))
    }

    @Test func keyInTheWrongSectionSuggestsTheRightOne() throws {
        let error = try #require(loadError("engine:\n  top_k: 5\n"))
        #expect(error.line == 2)
        #expect(error.message == "unknown key; did you mean 'leaderboard.top_k'?")
    }

    @Test func unknownKeyWithoutACloseMatchListsTheSection() throws {
        let error = try #require(loadError("http:\n  port: 80\n"))
        #expect(error.description == "tokenwatch.yaml:2: http.port: unknown key; 'http' takes bearer_token, listen")
    }

    @Test func badDuration() throws {
        let error = try #require(loadError("engine:\n  allowed_lateness: 5x\n"))
        #expect(
            error.description
                == #"tokenwatch.yaml:2: engine.allowed_lateness: "5x" is not a duration (write 30s, 5m, 1h, 7d)"#)
    }

    @Test func zeroDurationWhereOneIsNeeded() throws {
        let error = try #require(loadError("leaderboard:\n  snapshot_interval: 0s\n"))
        #expect(error.key == "leaderboard.snapshot_interval")
        #expect(error.message.contains("must be more than 0"))
        // Zero lateness is fine.
        #expect(try load("engine:\n  allowed_lateness: 0s\n").engineSettings.allowedLatenessMs == 0)
    }

    @Test func badWindowSyntaxNamesTheItemsLine() throws {
        let yaml = """
            windows:
              - 1h@1m
              - 24h-15m
            """
        let error = try #require(loadError(yaml))
        #expect(error.line == 3)
        #expect(error.key == "windows")
        #expect(error.message == #""24h-15m" is not a window (write LENGTH@STEP, e.g. 24h@15m)"#)
    }

    @Test func badDurationInsideAWindow() throws {
        let error = try #require(loadError(#"windows: ["1h@1m", "1x@1m"]"#))
        #expect(error.line == 1)
        #expect(error.message.contains(#"the length "1x" is not a duration"#))
    }

    @Test func stepMustDivideLength() throws {
        let error = try #require(loadError(#"windows: ["1h@7m"]"#))
        #expect(error.description == #"tokenwatch.yaml:1: windows: "1h@7m": the step 7m does not divide the length 1h"#)
    }

    @Test func windowsNeedPositiveStepsUniqueLengthsAndAtLeastOne() throws {
        #expect(try #require(loadError(#"windows: ["1h@0s"]"#)).message.contains("the step must be more than 0"))
        #expect(try #require(loadError(#"windows: ["0s@0s"]"#)).message.contains("the length must be more than 0"))
        #expect(try #require(loadError(#"windows: ["1h@1m", "60m@5m"]"#)).message.contains("repeats the window 1h"))
        #expect(try #require(loadError("windows: []")).message.contains("at least one window"))
    }

    @Test func windowNames() throws {
        let windows = try load(#"windows: ["24h@15m", "1d1h@1h", "90m@30m", "2w@1d"]"#).windows
        #expect(windows.map(\.name) == ["24h", "1d1h", "90m", "2w"])
        #expect(windows.map(\.stepMs) == [900_000, 3_600_000, 1_800_000, 86_400_000])
    }

    @Test func badRankBy() throws {
        let error = try #require(loadError("leaderboard:\n  rank_by: score\n"))
        #expect(
            error.description
                == #"tokenwatch.yaml:2: leaderboard.rank_by: "score" is not a ranking (write tokens, effective_tokens or outcomes)"#)
    }

    @Test(arguments: ["funday 00:00", "mon 24:00", "mon 12:60", "mon", "mon 9", "mon 09:5", "mon 00:00 utc"])
    func badWeeklyCutoff(text: String) throws {
        let error = try #require(loadError("leaderboard:\n  weekly_cutoff: \"\(text)\"\n"))
        #expect(error.line == 2)
        #expect(error.key == "leaderboard.weekly_cutoff")
        #expect(error.message.hasPrefix("\"\(text)\" is not a weekly cutoff"))
    }

    @Test func weeklyCutoffForms() throws {
        #expect(try load("leaderboard: {weekly_cutoff: FRI 17:30}").leaderboard.weeklyCutoff
            == WeeklyCutoff(weekday: 4, minuteOfDay: 17 * 60 + 30))
        #expect(try load("leaderboard: {weekly_cutoff: \"sunday  9:05\"}").leaderboard.weeklyCutoff
            == WeeklyCutoff(weekday: 6, minuteOfDay: 545))
    }

    @Test(arguments: ["0", "1001", "-3"])
    func topKOutOfRange(text: String) throws {
        let error = try #require(loadError("leaderboard:\n  top_k: \(text)\n"))
        #expect(error.description == "tokenwatch.yaml:2: leaderboard.top_k: \(text) is out of range: must be from 1 to 1000")
    }

    @Test func notAWholeNumber() throws {
        let error = try #require(loadError("leaderboard:\n  top_k: 2.5\n"))
        #expect(error.message == #""2.5" is not a whole number"#)
        #expect(try load("engine:\n  max_message_bytes: 2_097_152\n").engineSettings.maxMessageBytes == 2_097_152)
    }

    @Test func wrongYAMLTypes() throws {
        let sectionAsScalar = try #require(loadError("kafka: localhost\n"))
        #expect(sectionAsScalar.description == #"tokenwatch.yaml:1: kafka: expected a mapping of keys, found the value "localhost""#)

        let scalarAsList = try #require(loadError("leaderboard:\n  top_k: [1, 2]\n"))
        #expect(scalarAsList.line == 2)
        #expect(scalarAsList.message == "expected a whole number from 1 to 1000, found a list")

        let scalarAsMapping = try #require(loadError("http:\n  listen:\n    host: x\n"))
        #expect(scalarAsMapping.line == 2)
        #expect(scalarAsMapping.message.hasSuffix("found a mapping"))

        let listAsScalar = try #require(loadError("windows: 1h@1m\n"))
        #expect(listAsScalar.message.hasPrefix("expected a list of LENGTH@STEP"))

        let missingValue = try #require(loadError("kafka:\n  brokers:\n"))
        #expect(missingValue.line == 2)
        #expect(missingValue.message == "has no value; expected host:port, comma-separated")

        let nestedList = try #require(loadError("service_accounts:\n  patterns:\n    - svc-*\n    - [a, b]\n"))
        #expect(nestedList.line == 4)
    }

    @Test(arguments: [("- a\n- b\n", "a list"), ("just text\n", #"the value "just text""#)])
    func topLevelMustBeAMapping(yaml: String, found: String) throws {
        let error = try #require(loadError(yaml))
        #expect(error.line == 1)
        #expect(error.key == "")
        #expect(error.description.hasPrefix("tokenwatch.yaml:1: the top level must be a mapping"))
        #expect(error.message.hasSuffix("found \(found)"))
    }

    @Test func invalidYAMLSyntaxNamesTheLine() throws {
        let badIndent = try #require(loadError("kafka:\n  brokers: a\n   group_id: b\n"))
        #expect(badIndent.line == 3)
        #expect(badIndent.key == "")
        #expect(badIndent.message.hasPrefix("invalid YAML: "))

        let unclosed = try #require(loadError("kafka:\n  brokers: \"a\n  group_id: b\n"))
        #expect(unclosed.message.hasPrefix("invalid YAML: "))
        #expect(unclosed.line != nil)

        let tab = try #require(loadError("kafka:\n\tbrokers: a\n"))
        #expect(tab.line == 2)
    }

    @Test func duplicateKeys() throws {
        let error = try #require(loadError("engine:\n  idle_timeout: 1s\n  idle_timeout: 2s\n"))
        #expect(error.line == 2)
        #expect(error.message == "key 'idle_timeout' is written more than once in the same mapping; this is the first")
    }

    @Test func twoDocuments() throws {
        let error = try #require(loadError("kafka: {}\n---\nengine: {}\n"))
        #expect(error.line == 2)
        #expect(error.message == "invalid YAML: expected a single document in the stream, but found another document")
    }

    @Test func badAddressesAndNames() throws {
        #expect(try #require(loadError("http: {listen: localhost}")).message.contains("is not an address to listen on"))
        #expect(try #require(loadError("http: {listen: \"::1:80\"}")).key == "http.listen")
        #expect(try #require(loadError("http: {listen: \"h:70000\"}")).key == "http.listen")
        #expect(try load("http: {listen: \"[::1]:9464\"}").http.host == "::1")
        #expect(try load("http: {listen: \"0.0.0.0:0\"}").http.port == 0)
        #expect(try #require(loadError("kafka: {brokers: \"a:1,,b:2\"}")).message.contains("an empty entry"))
        #expect(try #require(loadError("kafka: {brokers: \"a:x\"}")).key == "kafka.brokers")
        #expect(try load("kafka: {brokers: \"a:1, b , SSL://c:3\"}").kafka.brokerList == ["a:1", "b", "SSL://c:3"])
        #expect(try #require(loadError("kafka: {input_topic: \"ai usage\"}")).message.contains("is not a topic name"))
        #expect(try #require(loadError("kafka: {group_id: \"\"}")).message == "is empty; expected a consumer group id")
        #expect(try #require(loadError("kafka:\n  librdkafka:\n    bootstrap.servers: x:1\n")).message
            == "set kafka.brokers instead of the librdkafka property bootstrap.servers")
    }

    @Test func sectionsMayBeLeftEmpty() throws {
        #expect(try load("kafka:\nengine: {}\nrules:\n  volume_spike:\n") == TokenwatchConfiguration())
    }

    @Test func fileErrors() throws {
        #expect(throws: ConfigurationError(
            source: "/nonexistent/tokenwatch.yaml", key: "",
            message: "cannot read the configuration file: no such file")
        ) {
            try ConfigurationLoader.load(path: "/nonexistent/tokenwatch.yaml", environment: [:])
        }
        #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader.load(path: "/tmp", environment: [:])
        }
    }
}
