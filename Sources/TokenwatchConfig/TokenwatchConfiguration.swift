import TokenwatchCore

/// The whole validated configuration of tokenwatch: defaults, then the YAML file, then the
/// environment, then command-line flags (see `ConfigurationLoader`). `TokenwatchConfiguration()`
/// holds the defaults, which `config/tokenwatch.yaml` documents key by key.
public struct TokenwatchConfiguration: Sendable, Equatable {
    /// `kafka:` — brokers, group, topics and extra librdkafka properties.
    public var kafka = KafkaSettings()
    /// `inputs:` — the input topics and their formats; empty means `kafka.input_topic` alone, native
    /// (see `effectiveInputs`).
    public var inputs: [InputSettings] = []
    /// `identities:` and `roster:` — the files that say who is who and who is expected, and what they hold.
    public var people = PeopleSettings()
    /// `engine:` — lateness, idleness, de-duplication and input limits. (Named `engineSettings`
    /// because `engine` is the `EngineConfiguration` the core takes.)
    public var engineSettings = EngineSettings()
    /// `windows:` — hopping windows, written `LENGTH@STEP` (default `["1h@1m", "24h@15m", "7d@1h"]`).
    public var windows: [WindowSpec] = EngineConfiguration.defaultWindows
    /// `leaderboard:` — snapshot cadence, size, ranking and the weekly cutoff.
    public var leaderboard = LeaderboardSettings()
    /// `service_accounts:` — who is a service account (default patterns `svc-*`, `*-bot`).
    public var serviceAccounts = ServiceAccountSettings()
    /// `rules:` — the settings of every rule in `RuleCatalog`, by rule name; always complete.
    public var rules: [String: RuleSettings] = RuleCatalog.defaultSettings
    /// `http:` — listen address and optional bearer token (default `127.0.0.1:9464`, no token).
    public var http = HTTPSettings()
    /// `state:` — checkpoint directory and interval.
    public var state = StateSettings()
    /// `replay:` — where a replay from Kafka writes.
    public var replay = ReplaySettings()
    /// `logging:` — text or JSON lines, and the level (default text at `info`).
    public var logging = LoggingSettings()
    /// `alerting:` — webhooks alerts are delivered to (default none).
    public var alerting = AlertingSettings()
    /// `privacy:` — minimum group size of team figures, pseudonymous boards.
    public var privacy = PrivacySettings()

    /// The defaults.
    public init() {}

    /// The settings of rule `name`; the catalog's defaults for a rule the configuration does not hold.
    /// A name that is not in `RuleCatalog` is a programming error.
    public func rule(_ name: String) -> RuleSettings {
        if let settings = rules[name] { return settings }
        guard let definition = RuleCatalog.rule(named: name) else {
            preconditionFailure("rule '\(name)' is not in the rule catalog")
        }
        return definition.defaultSettings
    }

    /// What the pure engine needs: windows, event-time and de-duplication settings, input limits,
    /// snapshot interval, board size and order, the known-users horizon, service-account patterns,
    /// and the rules with the weekly cutoff.
    public var engine: EngineConfiguration {
        var engine = EngineConfiguration()
        engine.allowedLatenessMs = engineSettings.allowedLatenessMs
        engine.idleTimeoutMs = engineSettings.idleTimeoutMs
        engine.dedupHorizonMs = engineSettings.dedupHorizonMs
        engine.dedupMaxIdsPerPartition = engineSettings.dedupMaxIds
        engine.maxFutureSkewMs = engineSettings.maxFutureSkewMs
        engine.maxMessageBytes = engineSettings.maxMessageBytes
        engine.windows = windows
        engine.snapshotIntervalMs = leaderboard.snapshotIntervalMs
        engine.topK = leaderboard.topK
        engine.rankBy = leaderboard.rankBy
        engine.knownUsersHorizonMs = leaderboard.knownUsersHorizonMs
        engine.serviceAccountPatterns = serviceAccounts.patterns
        engine.detection = detection
        engine.identities = people.identities
        engine.roster = people.roster
        engine.privacy = privacy.core
        return engine
    }

    /// The rules' settings as the core takes them.
    public var detection: DetectionConfiguration {
        var d = DetectionConfiguration()
        d.weeklyCutoffOffsetMs = leaderboard.weeklyCutoff.offsetInWeekMs
        for kind in RuleKind.allCases {
            let r = rule(kind.rawValue)
            d.rules[kind] = RuleParameters(
                enabled: r.enabled, severity: AlertSeverity(rawValue: r.severity.rawValue) ?? kind.defaultSeverity,
                cooldownMs: r.cooldownMs, thresholds: r.thresholds)
        }
        return d
    }
}
