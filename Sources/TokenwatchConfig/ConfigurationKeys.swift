import TokenwatchCore

/// The table of every configuration key (see `ConfigurationKey`) and the naming rules around it.
enum ConfigurationKeys {
    static let environmentPrefix = "TOKENWATCH_"
    /// Path of the free-form map of librdkafka properties.
    static let librdkafkaPath = "kafka.librdkafka"
    /// `TOKENWATCH_KAFKA_LIBRDKAFKA_`: followed by the property upper-cased with `_` for `.`.
    static let librdkafkaVariablePrefix = environmentVariable(forPath: librdkafkaPath) + "_"

    static func environmentVariable(forPath path: String) -> String {
        environmentPrefix + String(path.uppercased().map { $0 == "." ? "_" : $0 })
    }

    /// `sasl.password` → `TOKENWATCH_KAFKA_LIBRDKAFKA_SASL_PASSWORD`.
    static func environmentVariable(forLibrdkafkaProperty property: String) -> String {
        librdkafkaVariablePrefix + String(property.uppercased().map { $0 == "." ? "_" : $0 })
    }

    /// `TOKENWATCH_KAFKA_LIBRDKAFKA_SASL_PASSWORD` → `sasl.password`; nil for other names.
    static func librdkafkaProperty(forVariable name: String) -> String? {
        guard name.hasPrefix(librdkafkaVariablePrefix) else { return nil }
        let rest = name.dropFirst(librdkafkaVariablePrefix.count)
        return String(rest.lowercased().map { $0 == "_" ? "." : $0 })
    }

    /// Every leaf key, in the order of the example file.
    static var all: [ConfigurationKey] {
        var keys: [ConfigurationKey] = [
            brokers(),
            string("kafka.group_id", \.kafka.groupId, expected: "a consumer group id"),
            topic("kafka.input_topic", \.kafka.inputTopic),
            topic("kafka.leaderboard_topic", \.kafka.leaderboardTopic),
            topic("kafka.alerts_topic", \.kafka.alertsTopic),
            topic("kafka.deadletter_topic", \.kafka.deadletterTopic),
            topic("kafka.internal_topic_prefix", \.kafka.internalTopicPrefix),
            ConfigurationKey(
                path: "inputs", expected: "a list of {topic: NAME, format: tokenwatch|otlp}",
                itemFields: ValueParser.inputFields,
                apply: .list { config, items throws(ValueProblem) in
                    config.inputs = try ValueParser.inputs(items)
                }),

            ConfigurationKey(
                path: "identities.file", expected: "the path of a .csv, .yaml or .yml file of aliases",
                apply: .scalar { config, text throws(ValueProblem) in
                    config.people.identitiesFile = text.trimmingBlanks()
                }),
            ConfigurationKey(
                path: "roster.file", expected: "the path of a .csv, .yaml or .yml file of people and teams",
                apply: .scalar { config, text throws(ValueProblem) in
                    config.people.rosterFile = text.trimmingBlanks()
                }),

            duration("engine.allowed_lateness", \.engineSettings.allowedLatenessMs, allowZero: true),
            duration("engine.idle_timeout", \.engineSettings.idleTimeoutMs, allowZero: false),
            duration("engine.dedup_horizon", \.engineSettings.dedupHorizonMs, allowZero: true),
            integer("engine.dedup_max_ids", \.engineSettings.dedupMaxIds, in: 1...1_000_000_000),
            duration("engine.max_future_skew", \.engineSettings.maxFutureSkewMs, allowZero: false),
            integer("engine.max_message_bytes", \.engineSettings.maxMessageBytes, in: 1...1_000_000_000),
            integer("engine.threads", \.engineSettings.threads, in: 0...256),
            ConfigurationKey(
                path: "engine.instances", expected: "standby or split",
                apply: .scalar { config, text throws(ValueProblem) in
                    switch text.trimmingBlanks() {
                    case "standby": config.engineSettings.splitPartitions = false
                    case "split": config.engineSettings.splitPartitions = true
                    default: throw ValueProblem("is not standby or split")
                    }
                }),

            ConfigurationKey(
                path: "windows", expected: "a list of LENGTH@STEP such as [\"1h@1m\", \"24h@15m\"]",
                apply: .list { config, items throws(ValueProblem) in
                    config.windows = try ValueParser.windows(items)
                }),

            duration("leaderboard.snapshot_interval", \.leaderboard.snapshotIntervalMs, allowZero: false),
            integer("leaderboard.top_k", \.leaderboard.topK, in: 1...1000),
            ConfigurationKey(
                path: "leaderboard.rank_by", expected: "tokens, effective_tokens or outcomes",
                apply: .scalar { config, text throws(ValueProblem) in
                    config.leaderboard.rankBy = try ValueParser.rankBy(text)
                }),
            ConfigurationKey(
                path: "leaderboard.weekly_cutoff", expected: "a weekday and a UTC time such as \"mon 00:00\"",
                apply: .scalar { config, text throws(ValueProblem) in
                    config.leaderboard.weeklyCutoff = try ValueParser.weeklyCutoff(text)
                }),
            duration("leaderboard.known_users_horizon", \.leaderboard.knownUsersHorizonMs, allowZero: false),
            ConfigurationKey(
                path: "leaderboard.adoption_target", expected: "a fraction from 0 to 1 such as 0.8",
                apply: .scalar { config, text throws(ValueProblem) in
                    config.leaderboard.adoptionTarget = try ValueParser.number(text, in: 0...1)
                }),

            ConfigurationKey(
                path: "service_accounts.patterns", expected: "a list of name patterns such as [\"svc-*\", \"*-bot\"]",
                apply: .list { config, items throws(ValueProblem) in
                    config.serviceAccounts.patterns = try ValueParser.patterns(items)
                }),
        ]
        keys += ruleKeys()
        keys += [
            ConfigurationKey(
                path: "alerting.webhooks", expected: "a list of webhooks such as [{url: \"https://…\", format: slack}]",
                apply: .list { config, items throws(ValueProblem) in
                    var hooks: [WebhookSettings] = []
                    for item in items {
                        do throws(ValueProblem) { hooks.append(try ValueParser.webhook(item.text)) } catch { throw ValueProblem(error.message, line: item.line) }
                    }
                    config.alerting.webhooks = hooks
                }),
            integer("privacy.min_group_size", \.privacy.minGroupSize, in: 1...1_000_000),
            ConfigurationKey(
                path: "privacy.pseudonymize", expected: "true or false",
                apply: .scalar { config, text throws(ValueProblem) in
                    config.privacy.pseudonymize = try ValueParser.boolean(text)
                }),
            ConfigurationKey(
                path: "privacy.pseudonym_key", expected: "a secret key", isSecret: true,
                apply: .scalar { config, text throws(ValueProblem) in
                    guard text.utf8.count >= 16 else { throw ValueProblem("is too short: give at least 16 bytes") }
                    config.privacy.pseudonymKey = text
                }),
            ConfigurationKey(
                path: "http.listen", expected: "host:port such as 127.0.0.1:9464",
                apply: .scalar { config, text throws(ValueProblem) in
                    config.http.listen = try ValueParser.listenAddress(text)
                }),
            ConfigurationKey(
                path: "http.bearer_token", expected: "a token", isSecret: true,
                apply: .scalar { config, text throws(ValueProblem) in
                    guard !text.isEmpty else {
                        throw ValueProblem("is empty; unset it to serve without a token")
                    }
                    config.http.bearerToken = text
                }),

            ConfigurationKey(
                path: "state.dir", expected: "a directory path",
                apply: .scalar { config, text throws(ValueProblem) in
                    config.state.dir = text.trimmingBlanks()
                }),
            duration("state.checkpoint_interval", \.state.checkpointIntervalMs, allowZero: false),
            duration("state.epoch_interval", \.state.epochIntervalMs, allowZero: false),
            ConfigurationKey(
                path: "state.changelog", expected: "true or false",
                apply: .scalar { config, text throws(ValueProblem) in
                    config.state.changelog = try ValueParser.boolean(text)
                }),

            ConfigurationKey(
                path: "replay.topic_prefix", expected: "the start of a topic name such as replay.",
                apply: .scalar { config, text throws(ValueProblem) in
                    let prefix = text.trimmingBlanks()
                    try ValueParser.topicCharacters(prefix, original: text)
                    config.replay.topicPrefix = prefix
                }),

            ConfigurationKey(
                path: "logging.format", expected: "text or json",
                apply: .scalar { config, text throws(ValueProblem) in
                    config.logging.format = try ValueParser.choice(text, what: "log format")
                }),
            ConfigurationKey(
                path: "logging.level", expected: "trace, debug, info, notice, warning, error or critical",
                apply: .scalar { config, text throws(ValueProblem) in
                    config.logging.level = try ValueParser.choice(text, what: "log level")
                }),
        ]
        return keys
    }

    /// `rules.<rule>.enabled`, `.severity`, `.cooldown` and one key per threshold, for every catalog rule.
    static func ruleKeys(_ rules: [RuleDefinition] = RuleCatalog.rules) -> [ConfigurationKey] {
        var keys: [ConfigurationKey] = []
        for rule in rules {
            let name = rule.name
            let defaults = rule.defaultSettings
            let base = "rules.\(name)."
            keys.append(
                ConfigurationKey(
                    path: base + "enabled", expected: "true or false",
                    apply: .scalar { config, text throws(ValueProblem) in
                        config.rules[name, default: defaults].enabled = try ValueParser.boolean(text)
                    }))
            keys.append(
                ConfigurationKey(
                    path: base + "severity", expected: "info, warning or critical",
                    apply: .scalar { config, text throws(ValueProblem) in
                        config.rules[name, default: defaults].severity = try ValueParser.severity(text)
                    }))
            keys.append(
                ConfigurationKey(
                    path: base + "cooldown", expected: "a duration such as 6h",
                    apply: .scalar { config, text throws(ValueProblem) in
                        config.rules[name, default: defaults].cooldownMs = try ValueParser.duration(
                            text, allowZero: true)
                    }))
            for threshold in rule.thresholds {
                let key = threshold.key
                switch threshold.unit {
                case .number:
                    keys.append(
                        ConfigurationKey(
                            path: base + key, expected: "a number",
                            apply: .scalar { config, text throws(ValueProblem) in
                                config.rules[name, default: defaults].thresholds[key] = try ValueParser.number(
                                    text, in: threshold.range)
                            }))
                case .duration:
                    keys.append(
                        ConfigurationKey(
                            path: base + key, expected: "a duration such as 5m",
                            apply: .scalar { config, text throws(ValueProblem) in
                                let ms = try ValueParser.duration(text, allowZero: true)
                                guard threshold.range.contains(Double(ms)) else {
                                    throw ValueProblem("\(text.quoted) is out of range")
                                }
                                config.rules[name, default: defaults].thresholds[key] = Double(ms)
                            }))
                }
            }
        }
        return keys
    }

    // MARK: - Key kinds

    static func duration(
        _ path: String, _ field: WritableKeyPath<TokenwatchConfiguration, Int64>, allowZero: Bool
    ) -> ConfigurationKey {
        ConfigurationKey(
            path: path, expected: "a duration such as 30s, 5m, 1h or 7d",
            apply: .scalar { config, text throws(ValueProblem) in
                config[keyPath: field] = try ValueParser.duration(text, allowZero: allowZero)
            })
    }

    static func integer(
        _ path: String, _ field: WritableKeyPath<TokenwatchConfiguration, Int>, in range: ClosedRange<Int>
    ) -> ConfigurationKey {
        ConfigurationKey(
            path: path, expected: "a whole number from \(range.lowerBound) to \(range.upperBound)",
            apply: .scalar { config, text throws(ValueProblem) in
                config[keyPath: field] = try ValueParser.integer(text, in: range)
            })
    }

    static func string(
        _ path: String, _ field: WritableKeyPath<TokenwatchConfiguration, String>, expected: String
    ) -> ConfigurationKey {
        ConfigurationKey(
            path: path, expected: expected,
            apply: .scalar { config, text throws(ValueProblem) in
                config[keyPath: field] = try ValueParser.nonEmpty(text, what: expected)
            })
    }

    static func topic(_ path: String, _ field: WritableKeyPath<TokenwatchConfiguration, String>) -> ConfigurationKey {
        ConfigurationKey(
            path: path, expected: "a topic name",
            apply: .scalar { config, text throws(ValueProblem) in
                config[keyPath: field] = try ValueParser.topic(text)
            })
    }

    static func brokers() -> ConfigurationKey {
        ConfigurationKey(
            path: "kafka.brokers", expected: "host:port, comma-separated",
            apply: .scalar { config, text throws(ValueProblem) in
                config.kafka.brokers = try ValueParser.brokers(text)
            })
    }

    // MARK: - librdkafka properties

    /// Properties that have their own key, so that there is one place to set them.
    static let librdkafkaPropertiesWithKeys: [String: String] = [
        "bootstrap.servers": "kafka.brokers",
        "metadata.broker.list": "kafka.brokers",
        "group.id": "kafka.group_id",
    ]

    /// Sets one librdkafka property after checking its name.
    static func applyLibrdkafka(
        property: String, value: String, to config: inout TokenwatchConfiguration
    ) throws(ValueProblem) {
        guard !property.isEmpty,
            property.unicodeScalars.allSatisfy({
                ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
                    || $0 == "." || $0 == "_" || $0 == "-"
            })
        else {
            throw ValueProblem("\(property.quoted) is not a librdkafka property name (e.g. security.protocol)")
        }
        if let own = librdkafkaPropertiesWithKeys[property] {
            throw ValueProblem("set \(own) instead of the librdkafka property \(property)")
        }
        config.kafka.librdkafka[property] = value
    }
}
