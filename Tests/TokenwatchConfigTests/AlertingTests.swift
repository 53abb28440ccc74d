import Testing
@testable import TokenwatchConfig

@Suite("alerting.webhooks and leaderboard.adoption_target")
struct AlertingTests {
    @Test func webhooksFromTheFile() throws {
        let config = try load("""
            alerting:
              webhooks:
                - url: https://hooks.example/slack
                  format: slack
                  min_severity: warning
                  rules: [machine_cadence, peer_outlier]
                  teams: [payments]
                - url: http://127.0.0.1:9093/hook
                  format: alertmanager
                  bearer_token_env: AM_TOKEN
                  secret_header: X-Secret
                  secret_env: AM_SECRET
            """)
        let hooks = config.alerting.webhooks
        #expect(hooks.count == 2)
        #expect(hooks[0].url == "https://hooks.example/slack" && hooks[0].format == .slack && hooks[0].minSeverity == .warning)
        #expect(hooks[0].rules == ["machine_cadence", "peer_outlier"] && hooks[0].teams == ["payments"])
        #expect(hooks[1].format == .alertmanager && hooks[1].bearerTokenEnv == "AM_TOKEN")
        #expect(hooks[1].secretHeader == "X-Secret" && hooks[1].secretEnv == "AM_SECRET")
        // The defaults: json, every severity, rule and team.
        let plain = try load("alerting:\n  webhooks:\n    - url: http://a.example/x\n").alerting.webhooks
        #expect(plain == [WebhookSettings(url: "http://a.example/x")])
    }

    @Test func webhooksFromTheEnvironmentAreURLs() throws {
        let config = try load("", environment: ["TOKENWATCH_ALERTING_WEBHOOKS": "http://a.example/1,https://b.example/2"])
        #expect(config.alerting.webhooks.map(\.url) == ["http://a.example/1", "https://b.example/2"])
        #expect(config.alerting.webhooks.allSatisfy { $0.format == .json })
    }

    @Test func badWebhooksNameTheProblemAndTheLine() throws {
        let unknown = try #require(loadError("alerting:\n  webhooks:\n    - url: http://a.example/x\n      formt: slack\n"))
        #expect(unknown.key == "alerting.webhooks")
        #expect(unknown.line == 3)
        #expect(unknown.description.contains("'formt' is not a webhook field"))
        let format = try #require(loadError("alerting:\n  webhooks:\n    - {url: http://a.example/x, format: teams}\n"))
        #expect(format.description.contains("is not a webhook format"))
        let url = try #require(loadError("alerting:\n  webhooks:\n    - url: ftp://a.example/x\n"))
        #expect(url.description.contains("is not an http:// or https:// URL"))
        let secret = try #require(loadError("alerting:\n  webhooks:\n    - {url: http://a/x, secret_header: X-S}\n"))
        #expect(secret.description.contains("secret_header and secret_env go together"))
    }

    @Test func adoptionTarget() throws {
        #expect(try load("").leaderboard.adoptionTarget == 0.8)
        #expect(try load("leaderboard:\n  adoption_target: 0.65\n").leaderboard.adoptionTarget == 0.65)
        #expect(loadError("leaderboard:\n  adoption_target: 1.5\n")?.key == "leaderboard.adoption_target")
    }
}
