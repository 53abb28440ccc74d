import Testing
@testable import TokenwatchConfig

@Suite("Secrets come from the environment only and are never printed")
struct SecretTests {
    @Test func bearerTokenInTheFileIsRejected() throws {
        let error = try #require(loadError("http:\n  listen: \"127.0.0.1:9464\"\n  bearer_token: hunter2\n"))
        #expect(error.line == 3)
        #expect(error.key == "http.bearer_token")
        #expect(error.message.contains("TOKENWATCH_HTTP_BEARER_TOKEN"))
        #expect(!error.description.contains("hunter2"))
    }

    @Test(arguments: [
        "sasl.password", "ssl.key.password", "ssl.keystore.password", "sasl.oauthbearer.client.secret", "ssl.key.pem",
        "sasl.oauthbearer.config", "sasl.oauthbearer.extensions", "some.password.thing", "my.SECRET",
    ])
    func secretLibrdkafkaPropertyInTheFileIsRejected(property: String) throws {
        let error = try #require(loadError("kafka:\n  librdkafka:\n    security.protocol: SASL_SSL\n    \(property): s3cret\n"))
        #expect(error.line == 4)
        #expect(error.key == "kafka.librdkafka.\(property)")
        let variable = "TOKENWATCH_KAFKA_LIBRDKAFKA_" + property.uppercased().replacing(".", with: "_")
        #expect(error.message == "is a secret and may not be written in the file: set the environment variable \(variable)")
        #expect(!error.description.contains("s3cret"))
    }

    @Test func secretsOnTheCommandLineAreRejected() throws {
        let token = try #require(loadError("", overrides: ["http.bearer_token": "t"]))
        #expect(token.message.contains("TOKENWATCH_HTTP_BEARER_TOKEN"))
        let password = try #require(loadError("", overrides: ["kafka.librdkafka.sasl.password": "p"]))
        #expect(password.message.contains("TOKENWATCH_KAFKA_LIBRDKAFKA_SASL_PASSWORD"))
    }

    @Test func secretsFromTheEnvironmentAreAcceptedAndRedacted() throws {
        let config = try load(
            "kafka:\n  librdkafka:\n    security.protocol: SASL_SSL\n    sasl.username: tw\n",
            environment: [
                "TOKENWATCH_HTTP_BEARER_TOKEN": "tok-123456",
                "TOKENWATCH_KAFKA_LIBRDKAFKA_SASL_PASSWORD": "pw-abcdef",
                "TOKENWATCH_KAFKA_LIBRDKAFKA_SSL_KEY_PEM": "-----BEGIN KEY-----",
            ])
        #expect(config.http.bearerToken == "tok-123456")
        #expect(config.kafka.librdkafka["sasl.password"] == "pw-abcdef")
        #expect(config.kafka.librdkafka["ssl.key.pem"] == "-----BEGIN KEY-----")

        let yaml = config.redactedYAML()
        #expect(!yaml.contains("tok-123456"))
        #expect(!yaml.contains("pw-abcdef"))
        #expect(!yaml.contains("BEGIN KEY"))
        #expect(yaml.contains(#"# bearer_token: "<redacted>"  # from TOKENWATCH_HTTP_BEARER_TOKEN"#))
        #expect(yaml.contains(#"# "sasl.password": "<redacted>"  # from TOKENWATCH_KAFKA_LIBRDKAFKA_SASL_PASSWORD"#))
        #expect(yaml.contains(#""sasl.username": "tw""#))

        // The redacted output is itself a valid file: with the same environment it loads to the same value.
        let environment = [
            "TOKENWATCH_HTTP_BEARER_TOKEN": "tok-123456",
            "TOKENWATCH_KAFKA_LIBRDKAFKA_SASL_PASSWORD": "pw-abcdef",
            "TOKENWATCH_KAFKA_LIBRDKAFKA_SSL_KEY_PEM": "-----BEGIN KEY-----",
        ]
        #expect(try load(yaml, environment: environment) == config)
    }

    @Test func oauthbearerConfigFromTheEnvironmentIsRedacted() throws {
        let config = try load(
            "", environment: ["TOKENWATCH_KAFKA_LIBRDKAFKA_SASL_OAUTHBEARER_CONFIG": "principal=tw scope=jwt-xyz"])
        #expect(config.kafka.librdkafka["sasl.oauthbearer.config"] == "principal=tw scope=jwt-xyz")
        #expect(!config.redactedYAML().contains("jwt-xyz"))
        #expect(!"\(config.kafka)".contains("jwt-xyz"))
        #expect(config.kafka.redactedLibrdkafka["sasl.oauthbearer.config"] == TokenwatchConfiguration.redactedPlaceholder)
    }

    @Test func emptyBearerTokenIsAnError() throws {
        let error = try #require(loadError("", environment: ["TOKENWATCH_HTTP_BEARER_TOKEN": ""]))
        #expect(error.key == "TOKENWATCH_HTTP_BEARER_TOKEN")
    }
}
