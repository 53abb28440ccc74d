import Testing
import TokenwatchCore
@testable import TokenwatchConfig

@Suite("Values, round trips and helpers")
struct ValueTests {
    /// A file that sets every key to something other than its default.
    static let everyKey = """
        kafka:
          brokers: "k1:9092,k2:9092"
          group_id: tw-test
          input_topic: usage.v2
          leaderboard_topic: lb
          alerts_topic: al
          deadletter_topic: dl
          librdkafka:
            security.protocol: SASL_SSL
            "client.id": "tw \\"quoted\\""
        engine:
          allowed_lateness: 1m
          idle_timeout: 1m
          dedup_horizon: 2h
          dedup_max_ids: 10
          max_future_skew: 2h
          max_message_bytes: 100
        windows: ["2h@10m", "1d@1h"]
        leaderboard:
          snapshot_interval: 10m
          top_k: 1000
          rank_by: outcomes
          weekly_cutoff: "wed 13:45"
          known_users_horizon: 7d
        service_accounts:
          patterns: []
        rules:
          volume_spike: {enabled: false, severity: critical, cooldown: 90m}
          mandate_minimum: {enabled: false}
        http:
          listen: "[::1]:1"
        state:
          dir: /tmp/state dir
          checkpoint_interval: 1s
        replay:
          topic_prefix: again-
        """

    @Test func everyKeyIsReadAndRoundTripsThroughRedactedYAML() throws {
        let config = try load(Self.everyKey)
        #expect(config.kafka.brokers == "k1:9092,k2:9092")
        #expect(config.kafka.librdkafka["client.id"] == #"tw "quoted""#)
        #expect(config.windows.map(\.name) == ["2h", "1d"])
        #expect(config.leaderboard.weeklyCutoff.description == "wed 13:45")
        #expect(config.serviceAccounts.patterns.isEmpty)
        #expect(config.state.dir == "/tmp/state dir")
        #expect(try load(config.redactedYAML()) == config)
        #expect(try load(TokenwatchConfiguration().redactedYAML()) == TokenwatchConfiguration())
    }

    @Test func everyKeyDiffersFromItsDefault() throws {
        // So that the round trip above would notice a key that redactedYAML() forgets.
        let config = try load(Self.everyKey), defaults = TokenwatchConfiguration()
        #expect(config.kafka.brokers != defaults.kafka.brokers)
        #expect(config.kafka.groupId != defaults.kafka.groupId)
        #expect(config.kafka.inputTopic != defaults.kafka.inputTopic)
        #expect(config.kafka.leaderboardTopic != defaults.kafka.leaderboardTopic)
        #expect(config.kafka.alertsTopic != defaults.kafka.alertsTopic)
        #expect(config.kafka.deadletterTopic != defaults.kafka.deadletterTopic)
        #expect(config.engineSettings.allowedLatenessMs != defaults.engineSettings.allowedLatenessMs)
        #expect(config.engineSettings.idleTimeoutMs != defaults.engineSettings.idleTimeoutMs)
        #expect(config.engineSettings.dedupHorizonMs != defaults.engineSettings.dedupHorizonMs)
        #expect(config.engineSettings.dedupMaxIds != defaults.engineSettings.dedupMaxIds)
        #expect(config.engineSettings.maxFutureSkewMs != defaults.engineSettings.maxFutureSkewMs)
        #expect(config.engineSettings.maxMessageBytes != defaults.engineSettings.maxMessageBytes)
        #expect(config.leaderboard.snapshotIntervalMs != defaults.leaderboard.snapshotIntervalMs)
        #expect(config.leaderboard.topK != defaults.leaderboard.topK)
        #expect(config.leaderboard.rankBy != defaults.leaderboard.rankBy)
        #expect(config.leaderboard.weeklyCutoff != defaults.leaderboard.weeklyCutoff)
        #expect(config.leaderboard.knownUsersHorizonMs != defaults.leaderboard.knownUsersHorizonMs)
        #expect(config.http.listen != defaults.http.listen)
        #expect(config.state.dir != defaults.state.dir)
        #expect(config.state.checkpointIntervalMs != defaults.state.checkpointIntervalMs)
        #expect(config.replay.topicPrefix != defaults.replay.topicPrefix)
    }

    @Test func redactedYAMLOfTheDefaults() {
        let yaml = TokenwatchConfiguration().redactedYAML()
        #expect(yaml.contains("  librdkafka: {}\n"))
        #expect(yaml.contains("windows: [\"1h@1m\", \"24h@15m\", \"7d@1h\"]\n"))
        #expect(yaml.contains("  weekly_cutoff: \"mon 00:00\"\n"))
        #expect(yaml.contains("  mandate_minimum:\n    enabled: true\n    severity: info\n    cooldown: 6h\n"))
        #expect(!yaml.contains("bearer_token"))
    }

    @Test func weeklyCutoffInstants() {
        let monday = WeeklyCutoff(weekday: 0, minuteOfDay: 0)
        let mondayJan5_1970: Int64 = 4 * 86_400_000
        #expect(monday.latest(atOrBefore: mondayJan5_1970) == mondayJan5_1970)
        #expect(monday.latest(atOrBefore: mondayJan5_1970 - 1) == mondayJan5_1970 - 7 * 86_400_000)
        // 2026-11-20 is a Friday: the latest Monday 00:00 before it is 2026-11-16.
        let friday: Int64 = 1_795_132_800_000  // 2026-11-20T00:00:00Z
        #expect(monday.latest(atOrBefore: friday + 12 * 3_600_000) == friday - 4 * 86_400_000)
        let fridayFive = WeeklyCutoff(weekday: 4, minuteOfDay: 17 * 60)
        #expect(fridayFive.latest(atOrBefore: friday + 17 * 3_600_000) == friday + 17 * 3_600_000)
        #expect(fridayFive.description == "fri 17:00")
    }

    @Test func suggestions() {
        #expect(Suggestion.editDistance("alowed_lateness", "allowed_lateness") == 1)
        #expect(Suggestion.editDistance("top_kk", "top_k") == 1)
        #expect(Suggestion.editDistance("brokres", "brokers") == 1)
        #expect(Suggestion.closest(to: "xyz", among: ["brokers", "group_id"]) == nil)
    }

    @Test func numbersAndQuoting() throws {
        #expect(try ValueParser.number("0.25", in: 0...1) == 0.25)
        #expect(throws: ValueProblem.self) { try ValueParser.number("nan", in: 0...1) }
        #expect(throws: ValueProblem.self) { try ValueParser.number("2", in: 0...1) }
        #expect(ValueParser.format(50_000) == "50000")
        #expect(ValueParser.format(0.25) == "0.25")
        #expect("a\"b\\c\n\u{1}".quoted == #""a\"b\\c\n\u0001""#)
    }
}
