import Testing
import TokenwatchCore
@testable import TokenwatchConfig

extension DetectionConfiguration {
    /// The same settings with every rule listed explicitly (as the configuration maps them).
    var withEveryRuleListed: DetectionConfiguration {
        var c = self
        for kind in RuleKind.allCases { c.rules[kind] = parameters(kind) }
        return c
    }
}

@Suite("Rule settings")
struct RuleSettingsTests {
    @Test func everyRuleGetsSettingsEvenWhenAbsent() throws {
        let config = try load("rules:\n  volume_spike:\n    enabled: false\n")
        #expect(config.rules.count == RuleCatalog.rules.count)
        #expect(config.rule("volume_spike").enabled == false)
        #expect(config.rule("peer_outlier") == RuleCatalog.rule(named: "peer_outlier")!.defaultSettings)
    }

    @Test func enableDisableSeverityCooldown() throws {
        let yaml = """
            rules:
              machine_cadence:
                enabled: no
                severity: critical
                cooldown: 2h
              mandate_minimum:
                severity: warning
                cooldown: 0s
            """
        let config = try load(yaml)
        let cadenceThresholds = RuleCatalog.rule(named: "machine_cadence")!.defaultSettings.thresholds
        #expect(config.rule("machine_cadence") == RuleSettings(enabled: false, severity: .critical, cooldownMs: 7_200_000, thresholds: cadenceThresholds))
        #expect(config.rule("mandate_minimum").severity == .warning)
        #expect(config.rule("mandate_minimum").enabled)
        #expect(config.rule("mandate_minimum").cooldownMs == 0)
    }

    @Test func badSeverity() throws {
        let error = try #require(loadError("rules:\n  low_yield:\n    severity: high\n"))
        #expect(error.description == #"tokenwatch.yaml:3: rules.low_yield.severity: "high" is not a severity (write info, warning or critical)"#)
    }

    @Test func badEnabled() throws {
        let error = try #require(loadError("rules:\n  low_yield:\n    enabled: maybe\n"))
        #expect(error.message == #""maybe" is not true or false"#)
    }

    @Test func unknownRule() throws {
        let error = try #require(loadError("rules:\n  volume_spik:\n    enabled: true\n"))
        #expect(error.line == 2)
        #expect(error.key == "rules.volume_spik")
        #expect(error.message.hasPrefix("unknown rule; the rules are volume_spike, peer_outlier"))
        #expect(error.message.hasSuffix("did you mean 'rules.volume_spike'?"))
    }

    @Test func unknownRuleKey() throws {
        let error = try #require(loadError("rules:\n  duplicate_prompts:\n    threshold: 3\n"))
        #expect(error.line == 3)
        #expect(error.key == "rules.duplicate_prompts.threshold")
        #expect(error.message.hasPrefix("unknown key"))
    }

    @Test func ruleAsAScalarIsATypeError() throws {
        let error = try #require(loadError("rules:\n  low_yield: off\n"))
        #expect(error.key == "rules.low_yield")
        #expect(error.message.hasPrefix("expected a mapping"))
    }

    @Test func catalogIsConsistent() {
        let names = RuleCatalog.rules.map(\.name)
        #expect(names == [
            "volume_spike", "peer_outlier", "low_yield", "machine_cadence", "duplicate_prompts",
            "leaderboard_sprint", "mandate_minimum", "hollow_outcomes",
        ])
        for rule in RuleCatalog.rules {
            let keys = rule.thresholds.map(\.key)
            #expect(Set(keys).count == keys.count, "\(rule.name) repeats a threshold")
            #expect(Set(keys).isDisjoint(with: RuleCatalog.commonKeys), "\(rule.name) shadows a common key")
            for threshold in rule.thresholds {
                #expect(threshold.range.contains(threshold.defaultValue), "\(rule.name).\(threshold.key) default out of range")
            }
        }
        #expect(RuleCatalog.rule(named: "mandate_minimum")?.defaultSeverity == .info)
        #expect(RuleCatalog.rules.filter { $0.name != "mandate_minimum" }.allSatisfy { $0.defaultSeverity == .warning })
    }

    @Test("the catalog documents exactly the core's thresholds, with the core's defaults")
    func catalogMatchesTheCore() {
        for kind in RuleKind.allCases {
            let rule = RuleCatalog.rule(named: kind.rawValue)
            #expect(rule != nil, "\(kind.rawValue) is not in the catalog")
            #expect(rule?.defaultSettings.thresholds == kind.defaultThresholds, "\(kind.rawValue)")
            #expect(rule?.defaultSeverity.rawValue == kind.defaultSeverity.rawValue, "\(kind.rawValue)")
            #expect(rule?.defaultCooldownMs == RuleParameters.defaults(kind).cooldownMs, "\(kind.rawValue)")
        }
        #expect(RuleCatalog.rules.count == RuleKind.allCases.count)
    }

    @Test func detectionCarriesRulesAndCutoff() throws {
        let config = try load("leaderboard: {weekly_cutoff: \"fri 17:30\"}\nrules:\n  low_yield: {enabled: false, severity: critical, cooldown: 2h, min_tokens: 1000}\n")
        let d = config.engine.detection
        #expect(d.weeklyCutoffOffsetMs == 4 * 86_400_000 + (17 * 60 + 30) * 60_000)
        let p = d.parameters(.lowYield)
        #expect(!p.enabled && p.severity == .critical && p.cooldownMs == 7_200_000)
        #expect(p.thresholds["min_tokens"] == 1000)
        #expect(p.thresholds["max_yield_ratio"] == 0.1)
        #expect(d.parameters(.mandateMinimum).severity == .info)
        #expect(TokenwatchConfiguration().engine.detection == DetectionConfiguration().withEveryRuleListed)
    }

    @Test func severityOrder() {
        #expect(Severity.info < .warning && Severity.warning < .critical)
    }
}

@Suite("Thresholds, ahead of the catalog listing any")
struct ThresholdTests {
    let rule = RuleDefinition(
        name: "test_rule", summary: "a rule for this test",
        thresholds: [
            .number("min_tokens", default: 50_000, doc: "floor"),
            .number("share", default: 0.5, doc: "a ratio", range: 0...1),
            .duration("window", defaultMs: 3_600_000, doc: "look-back"),
        ])

    func apply(_ path: String, _ text: String) throws -> RuleSettings {
        var config = TokenwatchConfiguration()
        let key = try #require(ConfigurationKeys.ruleKeys([rule]).first { $0.path == path })
        guard case .scalar(let apply) = key.apply else {
            Issue.record("a threshold is a scalar")
            return config.rule("volume_spike")
        }
        try apply(&config, text)
        return try #require(config.rules["test_rule"])
    }

    @Test func defaultsHoldEveryThreshold() {
        #expect(rule.defaultSettings.thresholds == ["min_tokens": 50_000, "share": 0.5, "window": 3_600_000])
    }

    @Test func thresholdsAreKeysOfTheRule() throws {
        let paths = ConfigurationKeys.ruleKeys([rule]).map(\.path)
        #expect(paths == [
            "rules.test_rule.enabled", "rules.test_rule.severity", "rules.test_rule.cooldown",
            "rules.test_rule.min_tokens", "rules.test_rule.share", "rules.test_rule.window",
        ])
        #expect(ConfigurationKeys.ruleKeys([rule]).last?.environmentVariable == "TOKENWATCH_RULES_TEST_RULE_WINDOW")
    }

    @Test func thresholdValues() throws {
        #expect(try apply("rules.test_rule.min_tokens", "75000").threshold("min_tokens") == 75_000)
        #expect(try apply("rules.test_rule.share", "0.8").threshold("share") == 0.8)
        #expect(try apply("rules.test_rule.window", "2h").threshold("window") == 7_200_000)
        #expect(try apply("rules.test_rule.window", "2h").threshold("share") == 0.5)
        #expect(throws: ValueProblem.self) { try apply("rules.test_rule.share", "1.5") }
        #expect(throws: ValueProblem.self) { try apply("rules.test_rule.min_tokens", "-1") }
        #expect(throws: ValueProblem.self) { try apply("rules.test_rule.window", "2") }
    }
}
