import Foundation
import Testing

/// What the executable says and how it exits when it does not get as far as Kafka: the version,
/// usage errors (exit 2, ArgumentParser's own included) and configuration errors naming key and line.
@Suite
struct CommandLineTests {
    @Test("--version prints the version and the commit")
    func version() async throws {
        try await Harness.run("version") { h in
            let run = try await h.runTool("version", h.tokenwatch, ["--version"])
            h.expect(run.exitStatus == 0, "--version exited \(run.exitStatus ?? -1)")
            let line = run.stdout.trimmingCharacters(in: .newlines)
            let matches = line.wholeMatch(of: /tokenwatch \d+\.\d+\.\d+ \(commit [0-9a-z-]+\)/) != nil
            h.expect(matches, "--version printed \(line)")
        }
    }

    @Test("usage errors exit 2: unknown flag, missing argument, a ValidationError thrown while running", arguments: [
        ["leaderboard", "--no-such-flag"],
        ["check-config"],
        ["replay"],
        ["alerts", "--min-severity", "loud"],
        ["evaluate", "--labels", "/nonexistent/labels.json", "--alerts", "/nonexistent/alerts.jsonl"],
    ])
    func usageErrorsExit2(arguments: [String]) async throws {
        try await Harness.run("usage-\(arguments[0])") { h in
            let run = try await h.runTool("usage", h.tokenwatch, arguments)
            h.expect(run.exitStatus == 2, "`tokenwatch \(arguments.joined(separator: " "))` exited \(run.exitStatus ?? -1), expected 2")
            h.expect(run.stderr.hasPrefix("Error: "), "no human message: \(run.stderr)")
            h.expect(!run.stderr.contains("NSCocoaErrorDomain"), "a raw Foundation error: \(run.stderr)")
        }
    }

    @Test("evaluate names the file it cannot read")
    func evaluateMissingFile() async throws {
        try await Harness.run("evaluate-missing") { h in
            let run = try await h.runTool("evaluate", h.tokenwatch, ["evaluate", "--labels", "/nonexistent/labels.json", "--alerts", "/x"])
            h.expect(run.stderr.contains("--labels /nonexistent/labels.json: no such file"), "evaluate said: \(run.stderr)")
        }
    }

    @Test("logging.format: json makes every log line one JSON object")
    func jsonLogs() async throws {
        try await Harness.run("json-logs") { h in
            let broker = try h.spawn("dev-broker-json", h.tokenwatch, ["dev-broker", "--port", "0", "--config", h.emptyConfig.path],
                                     environment: h.environment(["TOKENWATCH_LOGGING_FORMAT": "json"]))
            try await h.waitUntil("the dev broker's ready line", timeout: .seconds(30), alive: [broker]) {
                broker.stderr.contains("dev broker ready")
            }
            broker.signal(SIGTERM)
            _ = await broker.waitForExit(timeout: .seconds(10))
            let lines = broker.stderr.split(separator: "\n")
            h.expect(!lines.isEmpty, "no log lines")
            for line in lines {
                let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                h.expect(object?["level"] != nil && object?["message"] != nil, "not a JSON log line: \(line)")
            }
            let ready = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                .first { $0["message"] as? String == "dev broker ready" }
            h.expect((ready?["metadata"] as? [String: Any])?["bootstrap"] as? String == broker.stdout.trimmingCharacters(in: .newlines),
                     "the ready line does not carry the bootstrap address: \(String(describing: ready))")
        }
    }

    @Test("check-config hands kafka.librdkafka to librdkafka and names the key and line it refuses")
    func checkConfigRefusesUnknownLibrdkafkaProperty() async throws {
        try await Harness.run("check-config-librdkafka") { h in
            let file = h.directory.appendingPathComponent("bad.yaml")
            try Data("kafka:\n  librdkafka:\n    security.protocol: plaintext\n    sesion.timeout.ms: 6000\n".utf8).write(to: file)
            let run = try await h.runTool("check-config", h.tokenwatch, ["check-config", file.path])
            h.expect(run.exitStatus == 2, "check-config exited \(run.exitStatus ?? -1), expected 2")
            h.expect(run.stderr.contains("\(file.path):4: kafka.librdkafka.sesion.timeout.ms: refused by librdkafka"),
                     "check-config said: \(run.stderr)")

            // A value only the producer refuses (the daemon's producer is idempotent).
            try Data("kafka:\n  librdkafka:\n    acks: 1\n".utf8).write(to: file)
            let producer = try await h.runTool("check-config", h.tokenwatch, ["check-config", file.path])
            h.expect(producer.exitStatus == 2, "check-config with acks: 1 exited \(producer.exitStatus ?? -1), expected 2")
            h.expect(producer.stderr.contains("\(file.path):3: kafka.librdkafka.acks: refused by librdkafka (producer)"),
                     "check-config said: \(producer.stderr)")

            // From the environment: named by its variable.
            try Data("".utf8).write(to: file)
            let env = try await h.runTool("check-config", h.tokenwatch, ["check-config", file.path],
                                          environment: h.environment(["TOKENWATCH_KAFKA_LIBRDKAFKA_NO_SUCH_THING": "1"]))
            h.expect(env.exitStatus == 2, "check-config with a bad variable exited \(env.exitStatus ?? -1), expected 2")
            h.expect(env.stderr.contains("environment: TOKENWATCH_KAFKA_LIBRDKAFKA_NO_SUCH_THING: refused by librdkafka"),
                     "check-config said: \(env.stderr)")

            // The example configuration passes.
            let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("config/tokenwatch.yaml")
            let ok = try await h.runTool("check-config", h.tokenwatch, ["check-config", example.path])
            h.expect(ok.exitStatus == 0, "check-config of the example exited \(ok.exitStatus ?? -1): \(ok.stderr)")
        }
    }
}
