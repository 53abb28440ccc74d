import Foundation
import Testing

/// The subcommands that talk to Kafka read their configuration exactly like `run` (defaults < file <
/// environment < flags), and hand `kafka.librdkafka` to librdkafka: driven through the real executable
/// against the dev broker.
@Suite(.serialized)
struct ClientConfigurationTests {
    static let board = #"{"schema":"tokenwatch.leaderboard.v1","as_of":1795555200000,"window":"1h","window_start":1795551600000,"window_end":1795555200000,"scope":"global","rank_by":"tokens","entries":[{"rank":1,"user_id":"alice","team":"payments","tokens":1500,"events":1,"effective_tokens":1500,"suspicion":0,"flags":[]}],"adoption":{"active_users":1,"known_users":1,"active_ratio":1,"effective_active_ratio":1}}"#
    static let alert = #"{"schema":"tokenwatch.alert.v1","alert_id":"a-1","ts":1795555200000,"user_id":"bob","team":"infra","rule":"machine_cadence","severity":"warning","state":"firing","score":0.91,"summary":"bob on the beat","evidence":{},"emitted_at":1795555201234}"#

    /// Writes `yaml` to a file of the test's directory.
    static func configFile(_ h: Harness, _ name: String, _ yaml: String) throws -> String {
        let url = h.directory.appendingPathComponent(name)
        try Data(yaml.utf8).write(to: url)
        return url.path
    }

    @Test("leaderboard --config honours kafka.librdkafka: ssl against the plaintext broker fails, plaintext reads the board")
    func leaderboardUsesLibrdkafkaFromTheFile() async throws {
        try await Harness.run("leaderboard-config") { h in
            let (_, brokers) = try await h.startBroker(partitions: 2)
            try await h.produce(brokers: brokers, topic: "tokenwatch.leaderboard", [("1h|global", Array(Self.board.utf8))])
            let plain = try Self.configFile(h, "plain.yaml", "kafka:\n  brokers: \"\(brokers)\"\n")
            let ssl = try Self.configFile(h, "ssl.yaml", "kafka:\n  brokers: \"\(brokers)\"\n  librdkafka:\n    security.protocol: ssl\n")

            // No --brokers: they come from the file.
            let read = try await h.runTool("leaderboard-plain", h.tokenwatch, ["leaderboard", "--config", plain, "--json", "--timeout", "10"])
            h.expect(read.exitStatus == 0, "leaderboard with the plaintext configuration exited \(read.exitStatus ?? -1): \(read.stderr)")
            let printed = try JSONSerialization.jsonObject(with: Data(read.stdout.utf8)) as? [String: Any]
            h.expect(printed?["as_of"] as? Int == 1_795_555_200_000 && printed?["scope"] as? String == "global",
                     "leaderboard printed \(read.stdout)")

            let refused = try await h.runTool("leaderboard-ssl", h.tokenwatch, ["leaderboard", "--config", ssl, "--json", "--timeout", "3"])
            h.expect(refused.exitStatus == 1, "leaderboard over ssl to a plaintext listener exited \(refused.exitStatus ?? -1), expected 1")
            h.expect(refused.stdout.isEmpty, "leaderboard over ssl printed a board: \(refused.stdout)")
            h.expect(refused.stderr.contains("cannot read tokenwatch.leaderboard from \(brokers)"), "no clear error: \(refused.stderr)")
            // librdkafka names the handshake: "SSL handshake failed", or under load "Disconnected (… in state SSL_HANDSHAKE)".
            h.expect(refused.stderr.contains("SSL handshake failed") || refused.stderr.contains("SSL_HANDSHAKE"),
                     "librdkafka's reason is not shown: \(refused.stderr)")
        }
    }

    @Test("leaderboard --wait answers once the board is published")
    func leaderboardWaitsForTheBoard() async throws {
        try await Harness.run("leaderboard-wait") { h in
            let (_, brokers) = try await h.startBroker(partitions: 2)
            let waiting = try h.spawn("leaderboard-wait", h.tokenwatch,
                                      ["leaderboard", "--config", h.emptyConfig.path, "--brokers", brokers, "--window", "1h",
                                       "--scope", "global", "--json", "--wait", "60"])
            // It has read the empty topic (it would have exited 1 without --wait) and waits.
            try await h.waitUntil("leaderboard to find no board and wait", timeout: .seconds(30), alive: [waiting]) {
                waiting.stderr.contains("no board yet for that window and scope; waiting up to 60.0 s")
            }
            try await h.produce(brokers: brokers, topic: "tokenwatch.leaderboard", [("1h|global", Array(Self.board.utf8))])
            guard await waiting.waitForExit(timeout: .seconds(30)) else { throw h.fail("leaderboard --wait did not return after the board appeared") }
            h.expect(waiting.exitStatus == 0, "leaderboard --wait exited \(waiting.exitStatus ?? -1): \(waiting.stderr)")
            h.expect(waiting.stdout.contains(#""user_id":"alice""#), "leaderboard --wait printed \(waiting.stdout)")
        }
    }

    @Test("TOKENWATCH_KAFKA_BROKERS=... tokenwatch alerts --json works without --brokers")
    func alertsTakeBrokersFromTheEnvironment() async throws {
        try await Harness.run("alerts-env") { h in
            let (_, brokers) = try await h.startBroker(partitions: 2)
            try await h.produce(brokers: brokers, topic: "tokenwatch.alerts", [("bob", Array(Self.alert.utf8))])
            let run = try await h.runTool("alerts", h.tokenwatch, ["alerts", "--json"],
                                          environment: h.environment(["TOKENWATCH_KAFKA_BROKERS": brokers,
                                                                      "TOKENWATCH_CONFIG": h.emptyConfig.path]))
            h.expect(run.exitStatus == 0, "alerts exited \(run.exitStatus ?? -1): \(run.stderr)")
            h.expect(run.stdout == Self.alert + "\n", "alerts printed \(run.stdout)")
        }
    }

    @Test("loadgen and replay take brokers and the input topic from --config")
    func loadgenAndReplayUseTheFile() async throws {
        try await Harness.run("loadgen-replay-config") { h in
            let (_, brokers) = try await h.startBroker(partitions: 2)
            let config = try Self.configFile(h, "custom.yaml", """
                kafka:
                  brokers: "\(brokers)"
                  input_topic: usage-custom
                  librdkafka:
                    client.id: tokenwatch-it
                leaderboard:
                  snapshot_interval: 5m
                """)
            let gen = try await h.runTool("loadgen", h.tokenwatch,
                                          ["loadgen", "--config", config, "--events", "400", "--users", "20", "--scenario", "regular",
                                           "--start", "2026-11-24T00:00:00Z", "--span", "1h"])
            h.expect(gen.exitStatus == 0, "loadgen exited \(gen.exitStatus ?? -1): \(gen.stderr)")
            let produced = try await h.consume(brokers: brokers, topic: "usage-custom")
            h.expect(produced.count == 400, "usage-custom holds \(produced.count) events, loadgen produced 400")

            let out = h.directory.appendingPathComponent("replay")
            let replay = try await h.runTool("replay", h.tokenwatch,
                                             ["replay", "--config", config, "--from", "2026-11-24T00:00:00Z", "--out", out.path, "--quiet"])
            h.expect(replay.exitStatus == 0, "replay exited \(replay.exitStatus ?? -1): \(replay.stderr)")
            let boards = (try? String(contentsOf: out.appendingPathComponent("leaderboard.jsonl"), encoding: .utf8)) ?? ""
            h.expect(boards.contains(#""window":"1h""#), "replay of usage-custom wrote no 1h board: \(boards.prefix(300))")
        }
    }
}
