import Testing
@testable import TokenwatchConfig

@Suite("Environment and command-line overrides")
struct EnvironmentTests {
    let file = """
        kafka:
          brokers: file:9092
          group_id: from-file
        leaderboard:
          top_k: 10
        """

    @Test func environmentOverridesTheFile() throws {
        let config = try load(file, environment: ["TOKENWATCH_KAFKA_BROKERS": "env:9092", "PATH": "/usr/bin"])
        #expect(config.kafka.brokers == "env:9092")
        #expect(config.kafka.groupId == "from-file")  // not in the environment: the file's value stays
        #expect(config.leaderboard.topK == 10)
    }

    @Test func overridesOverrideTheEnvironment() throws {
        let config = try load(
            file, environment: ["TOKENWATCH_KAFKA_BROKERS": "env:9092", "TOKENWATCH_LEADERBOARD_TOP_K": "20"],
            overrides: ["kafka.brokers": "flag:9092"])
        #expect(config.kafka.brokers == "flag:9092")
        #expect(config.leaderboard.topK == 20)
    }

    @Test func everyKindOfKeyFromTheEnvironment() throws {
        let config = try load(
            "",
            environment: [
                "TOKENWATCH_ENGINE_ALLOWED_LATENESS": "10m",
                "TOKENWATCH_ENGINE_DEDUP_MAX_IDS": "100",
                "TOKENWATCH_WINDOWS": "1h@1m, 24h@15m",
                "TOKENWATCH_SERVICE_ACCOUNTS_PATTERNS": "svc-*,ci-*",
                "TOKENWATCH_LEADERBOARD_RANK_BY": "tokens",
                "TOKENWATCH_LEADERBOARD_WEEKLY_CUTOFF": "fri 18:00",
                "TOKENWATCH_RULES_LOW_YIELD_ENABLED": "false",
                "TOKENWATCH_RULES_PEER_OUTLIER_SEVERITY": "critical",
                "TOKENWATCH_RULES_PEER_OUTLIER_COOLDOWN": "1h",
                "TOKENWATCH_KAFKA_LIBRDKAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "TOKENWATCH_HTTP_LISTEN": "0.0.0.0:8080",
                "TOKENWATCH_STATE_DIR": "/var/lib/tw",
                "TOKENWATCH_REPLAY_TOPIC_PREFIX": "",
                "TOKENWATCH_CONFIG": "/etc/tokenwatch/tokenwatch.yaml",  // reserved: left alone
            ])
        #expect(config.engineSettings.allowedLatenessMs == 600_000)
        #expect(config.engineSettings.dedupMaxIds == 100)
        #expect(config.windows.map(\.description) == ["1h@1m", "24h@15m"])
        #expect(config.serviceAccounts.patterns == ["svc-*", "ci-*"])
        #expect(config.leaderboard.rankBy == .tokens)
        #expect(config.leaderboard.weeklyCutoff == WeeklyCutoff(weekday: 4, minuteOfDay: 18 * 60))
        #expect(config.rule("low_yield").enabled == false)
        #expect(config.rule("peer_outlier").severity == .critical)
        #expect(config.rule("peer_outlier").cooldownMs == 3_600_000)
        #expect(config.kafka.librdkafka == ["security.protocol": "SASL_SSL"])
        #expect(config.http.listen == "0.0.0.0:8080")
        #expect(config.state.dir == "/var/lib/tw")
        #expect(config.replay.topicPrefix == "")
    }

    @Test func emptyPatternsVariableMeansNoServiceAccounts() throws {
        #expect(try load("", environment: ["TOKENWATCH_SERVICE_ACCOUNTS_PATTERNS": ""]).serviceAccounts.patterns == [])
    }

    @Test func environmentErrorNamesTheVariable() throws {
        let error = try #require(loadError("", environment: ["TOKENWATCH_ENGINE_ALLOWED_LATENESS": "5x"]))
        #expect(error.source == "environment")
        #expect(error.line == nil)
        #expect(error.key == "TOKENWATCH_ENGINE_ALLOWED_LATENESS")
        #expect(
            error.description
                == #"environment: TOKENWATCH_ENGINE_ALLOWED_LATENESS: "5x" is not a duration (write 30s, 5m, 1h, 7d)"#)

        let windows = try #require(loadError("", environment: ["TOKENWATCH_WINDOWS": "1h@1m,"]))
        #expect(windows.key == "TOKENWATCH_WINDOWS")
        #expect(windows.message.contains("is not a window"))
    }

    @Test func unknownVariableIsAnError() throws {
        let error = try #require(loadError("", environment: ["TOKENWATCH_KAFKA_BROKER": "h:1"]))
        #expect(error.key == "TOKENWATCH_KAFKA_BROKER")
        #expect(error.message == "unknown variable: no configuration key has this name; did you mean TOKENWATCH_KAFKA_BROKERS?")
        let rule = try #require(loadError("", environment: ["TOKENWATCH_RULES_NOPE_ENABLED": "true"]))
        #expect(rule.key == "TOKENWATCH_RULES_NOPE_ENABLED")
    }

    @Test func overrideErrorsNameTheKey() throws {
        let bad = try #require(loadError("", overrides: ["leaderboard.top_k": "0"]))
        #expect(bad.description == "command line: leaderboard.top_k: 0 is out of range: must be from 1 to 1000")
        let unknown = try #require(loadError("", overrides: ["kafka.broker": "h:1"]))
        #expect(unknown.message == "unknown key; did you mean 'kafka.brokers'?")
    }

    @Test func overridesReachEveryKey() throws {
        let config = try load(
            "", overrides: ["windows": "7d@1h", "rules.machine_cadence.enabled": "off", "kafka.librdkafka.client.id": "tw-1"])
        #expect(config.windows.map(\.description) == ["7d@1h"])
        #expect(config.rule("machine_cadence").enabled == false)
        #expect(config.kafka.librdkafka["client.id"] == "tw-1")
    }

    @Test func librdkafkaPropertiesMergeAcrossLayers() throws {
        let config = try load(
            "kafka:\n  librdkafka:\n    security.protocol: SSL\n    enable.idempotence: yes\n    linger.ms: 5\n",
            environment: ["TOKENWATCH_KAFKA_LIBRDKAFKA_SECURITY_PROTOCOL": "SASL_SSL"],
            overrides: ["kafka.librdkafka.linger.ms": "10"])
        #expect(config.kafka.librdkafka == ["security.protocol": "SASL_SSL", "enable.idempotence": "true", "linger.ms": "10"])
    }

    @Test("variable names derive from the key paths, one per key, none inside the librdkafka prefix")
    func variableNamesAreUnique() {
        let names = ConfigurationKeys.all.map(\.environmentVariable)
        #expect(Set(names).count == names.count)
        #expect(!names.contains { $0.hasPrefix(ConfigurationKeys.librdkafkaVariablePrefix) })
        #expect(names.contains("TOKENWATCH_LEADERBOARD_TOP_K"))
        #expect(names.contains("TOKENWATCH_RULES_VOLUME_SPIKE_ENABLED"))
        #expect(names.contains("TOKENWATCH_SERVICE_ACCOUNTS_PATTERNS"))
        #expect(ConfigurationLoader.environmentVariable(forKeyPath: "engine.allowed_lateness") == "TOKENWATCH_ENGINE_ALLOWED_LATENESS")
        #expect(ConfigurationLoader.environmentVariable(forKeyPath: "kafka.librdkafka.sasl.password")
            == "TOKENWATCH_KAFKA_LIBRDKAFKA_SASL_PASSWORD")
        #expect(ConfigurationLoader.environmentVariable(forKeyPath: "engine.nope") == nil)
    }
}
