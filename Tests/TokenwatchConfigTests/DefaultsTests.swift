import Foundation
import Testing
import TokenwatchCore
import Yams
@testable import TokenwatchConfig

@Suite("Defaults and the example file")
struct DefaultsTests {
    @Test("an empty file gives the defaults", arguments: ["", "\n\n", "# only a comment\n  # and another\n", "---\n", "~\n"])
    func emptyFile(yaml: String) throws {
        #expect(try load(yaml) == TokenwatchConfiguration())
    }

    @Test func noFileGivesTheDefaults() throws {
        #expect(try ConfigurationLoader.load(path: nil, environment: [:]) == TokenwatchConfiguration())
    }

    @Test func defaultsAreTheContractsValues() {
        let config = TokenwatchConfiguration()
        #expect(config.kafka.brokers == "127.0.0.1:9092")
        #expect(config.kafka.groupId == "tokenwatch")
        #expect(config.kafka.inputTopic == "ai-usage")
        #expect(config.kafka.leaderboardTopic == "tokenwatch.leaderboard")
        #expect(config.kafka.alertsTopic == "tokenwatch.alerts")
        #expect(config.kafka.deadletterTopic == "tokenwatch.deadletter")
        #expect(config.kafka.librdkafka.isEmpty)
        #expect(config.engineSettings.allowedLatenessMs == 300_000)
        #expect(config.engineSettings.idleTimeoutMs == 30_000)
        #expect(config.engineSettings.dedupHorizonMs == 86_400_000)
        #expect(config.engineSettings.dedupMaxIds == 4_000_000)
        #expect(config.engineSettings.maxFutureSkewMs == 3_600_000)
        #expect(config.engineSettings.maxMessageBytes == 1_048_576)
        #expect(config.windows.map(\.description) == ["1h@1m", "24h@15m", "7d@1h"])
        #expect(config.leaderboard.snapshotIntervalMs == 60_000)
        #expect(config.leaderboard.topK == 25)
        #expect(config.leaderboard.rankBy == .effectiveTokens)
        #expect(config.leaderboard.weeklyCutoff == WeeklyCutoff(weekday: 0, minuteOfDay: 0))
        #expect(config.leaderboard.knownUsersHorizonMs == 28 * 86_400_000)
        #expect(config.serviceAccounts.patterns == ["svc-*", "*-bot"])
        #expect(config.http.listen == "127.0.0.1:9464")
        #expect(config.http.host == "127.0.0.1" && config.http.port == 9464)
        #expect(config.http.bearerToken == nil)
        #expect(config.state.dir == "")
        #expect(config.state.checkpointIntervalMs == 30_000)
        #expect(config.replay.topicPrefix == "replay.")
        #expect(Set(config.rules.keys) == Set(RuleCatalog.rules.map(\.name)))
        #expect(config.rule("volume_spike").severity == .warning)
        #expect(config.rule("mandate_minimum").severity == .info)
        #expect(config.rules.values.allSatisfy { $0.enabled && $0.cooldownMs == 6 * 3_600_000 })
    }

    @Test("windows parsed from the defaults' text equal the core's default windows")
    func defaultWindowsMatchTheCore() throws {
        let parsed = try load("windows: [\"1h@1m\", \"24h@15m\", \"7d@1h\"]").windows
        #expect(parsed == EngineConfiguration.defaultWindows)
    }

    @Test("the example file loads to the defaults")
    func exampleEqualsDefaults() throws {
        let config = try ConfigurationLoader.load(path: examplePath, environment: [:])
        #expect(config == TokenwatchConfiguration())
    }

    @Test("the example file shows every key but the secrets")
    func exampleListsEveryKey() throws {
        let text = try String(contentsOfFile: examplePath, encoding: .utf8)
        let written = try exampleKeyPaths()
        let expected = Set(ConfigurationKeys.all.filter { !$0.isSecret }.map(\.path) + [ConfigurationKeys.librdkafkaPath])
        #expect(expected.subtracting(written).sorted() == [], "keys missing from config/tokenwatch.yaml")
        #expect(written.subtracting(expected).sorted() == [], "keys in config/tokenwatch.yaml that do not exist")
        // The secret is documented, commented out, with its variable.
        #expect(text.contains("# bearer_token:") && text.contains("TOKENWATCH_HTTP_BEARER_TOKEN"))
        #expect(text.contains("#   security.protocol: SASL_SSL"))
    }

    @Test func engineConfigurationCarriesEverySetting() throws {
        let config = try load(
            """
            engine: {allowed_lateness: 2m, idle_timeout: 10s, dedup_horizon: 12h, dedup_max_ids: 1000,
                     max_future_skew: 30m, max_message_bytes: 4096}
            windows: ["30m@5m"]
            leaderboard: {snapshot_interval: 5m, top_k: 10, rank_by: outcomes, known_users_horizon: 14d}
            service_accounts: {patterns: ["robot-*"]}
            """)
        let engine = config.engine
        #expect(engine.allowedLatenessMs == 120_000)
        #expect(engine.idleTimeoutMs == 10_000)
        #expect(engine.dedupHorizonMs == 12 * 3_600_000)
        #expect(engine.dedupMaxIdsPerPartition == 1000)
        #expect(engine.maxFutureSkewMs == 1_800_000)
        #expect(engine.maxMessageBytes == 4096)
        #expect(engine.windows == [WindowSpec(name: "30m", lengthMs: 1_800_000, stepMs: 300_000)])
        #expect(engine.snapshotIntervalMs == 300_000)
        #expect(engine.topK == 10)
        #expect(engine.rankBy == .outcomes)
        #expect(engine.knownUsersHorizonMs == 14 * 86_400_000)
        #expect(engine.serviceAccountPatterns == ["robot-*"])
    }

    @Test func defaultEngineConfigurationMatchesTheCoresDefaults() {
        let mine = TokenwatchConfiguration().engine, core = EngineConfiguration()
        #expect(mine.allowedLatenessMs == core.allowedLatenessMs)
        #expect(mine.idleTimeoutMs == core.idleTimeoutMs)
        #expect(mine.dedupHorizonMs == core.dedupHorizonMs)
        #expect(mine.dedupMaxIdsPerPartition == core.dedupMaxIdsPerPartition)
        #expect(mine.maxFutureSkewMs == core.maxFutureSkewMs)
        #expect(mine.maxMessageBytes == core.maxMessageBytes)
        #expect(mine.windows == core.windows)
        #expect(mine.snapshotIntervalMs == core.snapshotIntervalMs)
        #expect(mine.topK == core.topK)
        #expect(mine.rankBy == core.rankBy)
        #expect(mine.knownUsersHorizonMs == core.knownUsersHorizonMs)
        #expect(mine.serviceAccountPatterns == core.serviceAccountPatterns)
    }

    @Test func stateDirectoryFallsBack() {
        var state = StateSettings()
        #expect(state.resolvedDirectory(environment: [:], groupId: "tokenwatch") == "./tokenwatch-state/tokenwatch")
        #expect(state.resolvedDirectory(environment: [:], groupId: "../a b") == "./tokenwatch-state/.._a_b")
        #expect(state.resolvedDirectory(environment: [:], groupId: "..") == "./tokenwatch-state/default")
        #expect(state.resolvedDirectory(environment: ["STATE_DIRECTORY": "/var/lib/tokenwatch:/var/lib/other"], groupId: "g") == "/var/lib/tokenwatch")
        state.dir = "/srv/tw"
        #expect(state.resolvedDirectory(environment: ["STATE_DIRECTORY": "/var/lib/tokenwatch"], groupId: "g") == "/srv/tw")
    }
}
