import TokenwatchCore

extension TokenwatchConfiguration {
    /// What secrets are replaced by in `redactedYAML()`.
    public static let redactedPlaceholder = "<redacted>"

    /// The effective configuration as YAML, every key included, for `tokenwatch check-config`.
    ///
    /// Secrets never appear: a secret that is set shows as a comment
    /// `# bearer_token: "<redacted>"  # from TOKENWATCH_HTTP_BEARER_TOKEN`, so the output is also a valid
    /// configuration file that loads back to the same value given the same environment.
    public func redactedYAML() -> String {
        var out = YAMLText()
        out.line("# tokenwatch effective configuration; secrets are redacted")

        out.line("kafka:")
        out.line("  brokers: \(kafka.brokers.quoted)")
        out.line("  group_id: \(kafka.groupId.quoted)")
        out.line("  input_topic: \(kafka.inputTopic.quoted)")
        out.line("  leaderboard_topic: \(kafka.leaderboardTopic.quoted)")
        out.line("  alerts_topic: \(kafka.alertsTopic.quoted)")
        out.line("  deadletter_topic: \(kafka.deadletterTopic.quoted)")
        let properties = kafka.librdkafka.keys.sorted()
        let plain = properties.filter { !KafkaSettings.isSecretLibrdkafkaProperty($0) }
        out.line(plain.isEmpty ? "  librdkafka: {}" : "  librdkafka:")
        for property in properties {
            if KafkaSettings.isSecretLibrdkafkaProperty(property) {
                let variable = ConfigurationKeys.environmentVariable(forLibrdkafkaProperty: property)
                out.line("    # \(property.quoted): \(Self.redactedPlaceholder.quoted)  # from \(variable)")
            } else {
                out.line("    \(property.quoted): \(kafka.librdkafka[property]!.quoted)")
            }
        }

        if inputs.isEmpty {
            out.line("inputs: []")
        } else {
            out.line("inputs:")
            for input in inputs { out.line("  - {topic: \(input.topic.quoted), format: \(input.format.rawValue)}") }
        }

        out.line("identities:")
        out.line("  file: \(people.identitiesFile.quoted)")
        out.line("roster:")
        out.line("  file: \(people.rosterFile.quoted)")

        out.line("engine:")
        out.line("  allowed_lateness: \(duration(engineSettings.allowedLatenessMs))")
        out.line("  idle_timeout: \(duration(engineSettings.idleTimeoutMs))")
        out.line("  dedup_horizon: \(duration(engineSettings.dedupHorizonMs))")
        out.line("  dedup_max_ids: \(engineSettings.dedupMaxIds)")
        out.line("  max_future_skew: \(duration(engineSettings.maxFutureSkewMs))")
        out.line("  max_message_bytes: \(engineSettings.maxMessageBytes)")
        out.line("  threads: \(engineSettings.threads)")

        out.line("windows: [\(windows.map { $0.description.quoted }.joined(separator: ", "))]")

        out.line("leaderboard:")
        out.line("  snapshot_interval: \(duration(leaderboard.snapshotIntervalMs))")
        out.line("  top_k: \(leaderboard.topK)")
        out.line("  rank_by: \(leaderboard.rankBy.rawValue)")
        out.line("  weekly_cutoff: \(leaderboard.weeklyCutoff.description.quoted)")
        out.line("  known_users_horizon: \(duration(leaderboard.knownUsersHorizonMs))")
        out.line("  adoption_target: \(ValueParser.format(leaderboard.adoptionTarget))")

        out.line("service_accounts:")
        out.line("  patterns: [\(serviceAccounts.patterns.map(\.quoted).joined(separator: ", "))]")

        out.line("rules:")
        for definition in RuleCatalog.rules {
            let settings = rule(definition.name)
            out.line("  \(definition.name):")
            out.line("    enabled: \(settings.enabled)")
            out.line("    severity: \(settings.severity.rawValue)")
            out.line("    cooldown: \(duration(settings.cooldownMs))")
            for threshold in definition.thresholds {
                let value = settings.thresholds[threshold.key] ?? threshold.defaultValue
                switch threshold.unit {
                case .number: out.line("    \(threshold.key): \(ValueParser.format(value))")
                case .duration: out.line("    \(threshold.key): \(duration(Int64(value)))")
                }
            }
        }

        out.line("http:")
        out.line("  listen: \(http.listen.quoted)")
        if http.bearerToken != nil {
            let variable = ConfigurationKeys.environmentVariable(forPath: "http.bearer_token")
            out.line("  # bearer_token: \(Self.redactedPlaceholder.quoted)  # from \(variable)")
        }

        out.line("state:")
        out.line("  dir: \(state.dir.quoted)")
        out.line("  checkpoint_interval: \(duration(state.checkpointIntervalMs))")
        out.line("  changelog: \(state.changelog)")

        out.line("replay:")
        out.line("  topic_prefix: \(replay.topicPrefix.quoted)")

        out.line("privacy:")
        out.line("  min_group_size: \(privacy.minGroupSize)")
        out.line("  pseudonymize: \(privacy.pseudonymize)")

        out.line("alerting:")
        out.line(alerting.webhooks.isEmpty ? "  webhooks: []" : "  webhooks:")
        for hook in alerting.webhooks {
            out.line("    - url: \(hook.url.quoted)")
            out.line("      format: \(hook.format.rawValue)")
            out.line("      min_severity: \(hook.minSeverity.rawValue)")
            if !hook.rules.isEmpty { out.line("      rules: [\(hook.rules.map(\.quoted).joined(separator: ", "))]") }
            if !hook.teams.isEmpty { out.line("      teams: [\(hook.teams.map(\.quoted).joined(separator: ", "))]") }
            if let v = hook.bearerTokenEnv { out.line("      bearer_token_env: \(v.quoted)") }
            if let h = hook.secretHeader, let v = hook.secretEnv {
                out.line("      secret_header: \(h.quoted)")
                out.line("      secret_env: \(v.quoted)")
            }
        }

        out.line("logging:")
        out.line("  format: \(logging.format.rawValue)")
        out.line("  level: \(logging.level.rawValue)")
        return out.text
    }

    private func duration(_ ms: Int64) -> String { DurationText.format(ms: ms) }
}

/// Lines of YAML.
private struct YAMLText {
    var text = ""
    mutating func line(_ line: String) { text += line + "\n" }
}
