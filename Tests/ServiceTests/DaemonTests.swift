import Foundation
import Kafka
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `tokenwatch run` as a child process against `tokenwatch dev-broker`, over real sockets.
@Suite("Daemon: sd_notify, HTTP, SIGHUP reload, secrets", .serialized)
struct DaemonTests {
    /// Writes a config file; HTTP on an ephemeral loopback port.
    static func writeConfig(_ directory: URL, _ body: String) throws -> URL {
        let url = directory.appendingPathComponent("tokenwatch.yaml")
        try Data(("http:\n  listen: \"127.0.0.1:0\"\n" + body).utf8).write(to: url)
        return url
    }

    static func runDaemon(_ procs: Processes, config: URL, brokers: String, environment: [String: String] = [:]) throws -> Child {
        try procs.spawn("daemon", ["run", "--config", config.path, "--brokers", brokers,
                                   "--state-dir", procs.directory.appendingPathComponent("state").path],
                        environment: environment)
    }

    @Test("READY=1 once assigned, WATCHDOG=1 while alive, STATUS=, then STOPPING=1 on SIGTERM and exit 0")
    func systemdNotify() async throws {
        let procs = try Processes("notify")
        defer { procs.teardown() }
        let socket = try NotifySocket(directory: procs.directory)
        let (_, brokers) = try await procs.devBroker()
        let config = try Self.writeConfig(procs.directory, "")
        let daemon = try Self.runDaemon(procs, config: config, brokers: brokers,
                                        environment: ["NOTIFY_SOCKET": socket.path, "WATCHDOG_USEC": "1000000"])

        var seen: [String] = []
        func collect(until predicate: ([String]) -> Bool, timeout: Duration) async -> Bool {
            await eventually(timeout: timeout) {
                while let datagram = socket.receive() {
                    seen += datagram.split(separator: "\n").map(String.init)
                    if predicate(seen) { return true }
                }
                return predicate(seen) || !daemon.process.isRunning
            } && predicate(seen)
        }
        let ready = await collect(until: { $0.contains("READY=1") }, timeout: .seconds(60))
        #expect(ready, "no READY=1; got \(seen); stderr:\n\(daemon.stderr.suffix(3000))")
        let readyIndex = seen.firstIndex(of: "READY=1") ?? 0
        let watchdog = await collect(until: { $0[readyIndex...].contains("WATCHDOG=1") }, timeout: .seconds(10))
        #expect(watchdog, "no WATCHDOG=1 after READY=1; got \(seen)")
        let status = await collect(until: { $0.contains { $0.hasPrefix("STATUS=") && $0.contains("ev/s") } }, timeout: .seconds(10))
        #expect(status, "no STATUS= with a rate; got \(seen)")

        // SIGHUP: RELOADING=1, then READY=1 again.
        let beforeReload = seen.count
        daemon.signal(SIGHUP)
        let reloaded = await collect(until: { lines in
            guard let r = lines[beforeReload...].firstIndex(of: "RELOADING=1") else { return false }
            return lines[r...].contains("READY=1")
        }, timeout: .seconds(30))
        #expect(reloaded, "no RELOADING=1 then READY=1; got \(seen[beforeReload...])")
        #expect(seen[beforeReload...].contains { $0.hasPrefix("MONOTONIC_USEC=") })

        daemon.signal(SIGTERM)
        let stopping = await collect(until: { $0.contains("STOPPING=1") }, timeout: .seconds(30))
        #expect(stopping, "no STOPPING=1; got \(seen)")
        let exit = await daemon.waitForExit(timeout: .seconds(45))
        #expect(exit == 0, "stderr:\n\(daemon.stderr.suffix(3000))")

        // In order: READY, then a WATCHDOG, then STOPPING.
        let firstReady = try #require(seen.firstIndex(of: "READY=1"))
        let firstWatchdogAfter = try #require(seen[firstReady...].firstIndex(of: "WATCHDOG=1"))
        let stoppingAt = try #require(seen.firstIndex(of: "STOPPING=1"))
        #expect(firstReady < firstWatchdogAfter && firstWatchdogAfter < stoppingAt)
    }

    /// Produces `values` to the input topic (one partition) and waits for the broker's acknowledgements.
    static func produce(_ brokers: String, _ values: [[UInt8]]) async throws {
        let producer = try KafkaProducer(configuration: ["bootstrap.servers": brokers], logger: quietLogger)
        for value in values {
            let report = try await producer.send(topic: "ai-usage", key: nil, value: value)
            if let error = report.error { throw error }
        }
    }

    static func event(_ id: String, user: String, ts: Int64, tokens: Int) -> [UInt8] {
        Array(#"{"event_id":"\#(id)","ts":\#(ts),"user_id":"\#(user)","team":"core","input_tokens":\#(tokens),"output_tokens":0}"#.utf8)
    }

    static func json(_ text: String) -> [String: Any]? {
        try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
    }

    @Test("HTTP API with a bearer token; /metrics parses; SIGHUP applies top_k with counts intact and rejects a bad file")
    func httpAndReload() async throws {
        let procs = try Processes("reload")
        defer { procs.teardown() }
        let token = "test-token-\(UInt32.random(in: 0...UInt32.max))"
        let (_, brokers) = try await procs.devBroker()
        let settings = """
            engine:
              allowed_lateness: 0s
              idle_timeout: 1s
            windows: ["1h@1m"]
            leaderboard:
              snapshot_interval: 1m

            """
        let config = try Self.writeConfig(procs.directory, settings + "  top_k: 5\n")
        let daemon = try Self.runDaemon(procs, config: config, brokers: brokers, environment: ["TOKENWATCH_HTTP_BEARER_TOKEN": token])
        let port = try await httpAddress(of: daemon).port

        // Probes need no token; everything else does.
        #expect(get(port: port, "/healthz")?.status == 200)
        #expect(await eventually(timeout: .seconds(60)) { get(port: port, "/readyz")?.status == 200 },
                "never ready; stderr:\n\(daemon.stderr.suffix(3000))")
        #expect(get(port: port, "/metrics")?.status == 401)
        #expect(get(port: port, "/metrics", token: "wrong")?.status == 401)
        #expect(get(port: port, "/leaderboard?window=1h")?.status == 401)
        #expect(get(port: port, "/nope", token: token)?.status == 404)
        #expect(get(port: port, "/leaderboard?window=1h", token: token)?.status == 404)  // no board yet
        #expect(get(port: port, "/leaderboard?window=9h", token: token)?.status == 404)

        // Eight users at t0+1s..t0+8s, then one event past the 3-minute mark so the board as of t0+3m has them all.
        let minute: Int64 = 60_000
        let t0 = (Int64(Date().timeIntervalSince1970 * 1000) / minute - 30) * minute
        var events = (1...8).map { Self.event("e\($0)", user: "u\($0)", ts: t0 + Int64($0) * 1_000, tokens: $0 * 1_000) }
        events.append(Self.event("m1", user: "zz-mover", ts: t0 + 3 * minute + 1_000, tokens: 1))
        try await Self.produce(brokers, events)

        func board() -> [String: Any]? {
            guard let r = get(port: port, "/leaderboard?window=1h&scope=global", token: token), r.status == 200 else { return nil }
            return Self.json(r.body)
        }
        func entries(_ b: [String: Any]?) -> [(String, Int)] {
            ((b?["entries"] as? [[String: Any]]) ?? []).map { ($0["user_id"] as? String ?? "?", $0["tokens"] as? Int ?? -1) }
        }
        var first: [String: Any]?
        let boardSeen = await eventually(timeout: .seconds(30)) {
            first = board()
            return (first?["as_of"] as? Int ?? 0) >= Int(t0 + 3 * minute)
        }
        #expect(boardSeen, "no board as of t0+3m; last: \(String(describing: first)); stderr:\n\(daemon.stderr.suffix(3000))")
        #expect(entries(first).map(\.0) == ["u8", "u7", "u6", "u5", "u4"])
        #expect(entries(first).map(\.1) == [8_000, 7_000, 6_000, 5_000, 4_000])

        // /users/<id> and /metrics.
        let user = try #require(get(port: port, "/users/u3", token: token))
        #expect(user.status == 200)
        let windows = try #require(Self.json(user.body)?["windows"] as? [[String: Any]])
        let u3Tokens = windows.first?["tokens"] as? Int
        #expect(u3Tokens == 3_000)
        #expect(get(port: port, "/users/nobody", token: token)?.status == 404)
        // Forgetting u3: without the token refused; with it, what was held is answered and then dropped.
        #expect(get(port: port, "/users/u3", method: "DELETE")?.status == 401)
        #expect(get(port: port, "/users/u3", token: token, method: "DELETE")?.status == 200)
        let forgotten = try #require(get(port: port, "/users/u3", token: token))
        let forgottenWindows = try #require(Self.json(forgotten.body)?["windows"] as? [[String: Any]])
        #expect(forgottenWindows.allSatisfy { ($0["tokens"] as? Int) == 0 }, "u3 after forgetting: \(forgotten.body)")
        #expect(get(port: port, "/users/u3", token: token, method: "POST")?.status == 405)
        let metrics = try #require(get(port: port, "/metrics", token: token))
        #expect(metrics.status == 200)
        #expect(metrics.headers["content-type"]?.hasPrefix("text/plain; version=0.0.4") == true)
        let samples = try parsePrometheus(metrics.body)
        #expect(samples.value("tokenwatch_events_total", ["result": "counted"]) == 9)
        #expect(samples.value("tokenwatch_ready") == 1)
        // Lag is refreshed from librdkafka's cached watermarks once a second: wait for the first refresh.
        let lagSeen = await eventually(timeout: .seconds(20)) {
            guard let m = get(port: port, "/metrics", token: token), let s = try? parsePrometheus(m.body) else { return false }
            return s.value("tokenwatch_consumer_lag_messages", ["partition": "0"]) != nil
        }
        #expect(lagSeen, "no consumer lag for partition 0 in /metrics")
        #expect(samples.value("tokenwatch_http_unauthorized_total") == 4)  // three without a token, one DELETE without one

        // SIGHUP with top_k 2 (and a window change, which needs a restart and is ignored).
        _ = try Self.writeConfig(procs.directory, settings.replacingOccurrences(of: "[\"1h@1m\"]", with: "[\"1h@1m\", \"24h@15m\"]")
                                    + "  top_k: 2\n")
        daemon.signal(SIGHUP)
        #expect(await eventually(timeout: .seconds(30)) { daemon.stderr.contains("configuration reloaded: leaderboard.top_k: 5 → 2") },
                "no reload; stderr:\n\(daemon.stderr.suffix(3000))")
        #expect(daemon.stderr.contains("needs a restart; ignored until then: windows"))
        try await Self.produce(brokers, [Self.event("m2", user: "zz-mover", ts: t0 + 5 * minute + 1_000, tokens: 1)])
        var second: [String: Any]?
        let reloadedBoard = await eventually(timeout: .seconds(30)) {
            second = board()
            return (second?["as_of"] as? Int ?? 0) >= Int(t0 + 5 * minute)
        }
        #expect(reloadedBoard, "no board as of t0+5m; last: \(String(describing: second))")
        #expect(entries(second).map(\.0) == ["u8", "u7"])
        #expect(entries(second).map(\.1) == [8_000, 7_000])
        #expect((second?["adoption"] as? [String: Any])?["active_users"] as? Int == 8)  // state intact: every user counted but u3, forgotten

        // A bad file is rejected, naming the key; the running configuration stays.
        _ = try Self.writeConfig(procs.directory, settings + "  top_k: lots\n")
        daemon.signal(SIGHUP)
        #expect(await eventually(timeout: .seconds(30)) { daemon.stderr.contains("reload rejected") },
                "no rejection; stderr:\n\(daemon.stderr.suffix(3000))")
        let rejection = daemon.stderr.split(separator: "\n").first { $0.contains("reload rejected") } ?? ""
        #expect(rejection.contains("leaderboard.top_k"), "\(rejection)")
        #expect(get(port: port, "/healthz")?.status == 200)
        let after = try parsePrometheus(try #require(get(port: port, "/metrics", token: token)).body)
        #expect(after.value("tokenwatch_reloads_total", ["result": "applied"]) == 1)
        #expect(after.value("tokenwatch_reloads_total", ["result": "rejected"]) == 1)

        daemon.signal(SIGTERM)
        let exit = await daemon.waitForExit(timeout: .seconds(45))
        #expect(exit == 0, "stderr:\n\(daemon.stderr.suffix(3000))")
    }

    @Test("secrets never reach stdout or stderr, even with librdkafka's debug config dump")
    func secretsNeverLogged() async throws {
        let procs = try Processes("secrets")
        defer { procs.teardown() }
        let kafkaCanary = "CANARY-sasl-\(UInt32.random(in: 0...UInt32.max))"
        let httpCanary = "CANARY-http-\(UInt32.random(in: 0...UInt32.max))"
        let (_, brokers) = try await procs.devBroker()
        let config = try Self.writeConfig(procs.directory, "")
        // The dev broker does not speak SASL, so authentication fails after the password was configured.
        let daemon = try Self.runDaemon(procs, config: config, brokers: brokers, environment: [
            "TOKENWATCH_LOG_LEVEL": "debug",
            "TOKENWATCH_KAFKA_LIBRDKAFKA_DEBUG": "all",
            "TOKENWATCH_KAFKA_LIBRDKAFKA_SECURITY_PROTOCOL": "sasl_plaintext",
            "TOKENWATCH_KAFKA_LIBRDKAFKA_SASL_MECHANISMS": "PLAIN",
            "TOKENWATCH_KAFKA_LIBRDKAFKA_SASL_USERNAME": "tokenwatch",
            "TOKENWATCH_KAFKA_LIBRDKAFKA_SASL_PASSWORD": kafkaCanary,
            "TOKENWATCH_HTTP_BEARER_TOKEN": httpCanary,
        ])
        let port = try await httpAddress(of: daemon).port
        // librdkafka dumped its configuration (with the password property in it) and tried to authenticate.
        #expect(await eventually(timeout: .seconds(30)) {
            daemon.stderr.contains("sasl.password") && daemon.stderr.contains("SASL authentication")
        }, "no librdkafka debug output; stderr:\n\(daemon.stderr.suffix(3000))")
        #expect(get(port: port, "/metrics", token: httpCanary)?.status == 200)
        #expect(get(port: port, "/metrics", token: httpCanary + "x")?.status == 401)

        daemon.signal(SIGTERM)
        let status = await daemon.waitForExit(timeout: .seconds(45))
        #expect(status == 0, "stderr:\n\(daemon.stderr.suffix(3000))")
        let output = daemon.stdout + daemon.stderr
        #expect(output.count > 10_000, "expected a verbose log")
        #expect(!output.contains(kafkaCanary), "the SASL password was logged")
        #expect(!output.contains(httpCanary), "the bearer token was logged")
    }

    @Test("64 idle connections to the HTTP port: /healthz still answers 200 within 1 s, every time")
    func idleConnectionsDoNotStarveProbes() async throws {
        let procs = try Processes("idle-http")
        defer { procs.teardown() }
        let (_, brokers) = try await procs.devBroker()
        let config = try Self.writeConfig(procs.directory, "")
        let daemon = try Self.runDaemon(procs, config: config, brokers: brokers)
        let port = try await httpAddress(of: daemon).port
        // Connected, nothing sent, kept open for the whole test.
        var idle: [Int32] = []
        defer { for fd in idle { close(fd) } }
        for _ in 0..<64 {
            let fd = connectLoopback(port: port)
            #expect(fd != nil, "idle connection \(idle.count) refused")
            if let fd { idle.append(fd) }
        }
        var slow: [String] = []
        for probe in 0..<20 {
            let start = ContinuousClock.now
            let result = get(port: port, "/healthz")
            let took = ContinuousClock.now - start
            if result?.status != 200 || took > .seconds(1) {
                slow.append("probe \(probe): status \(result.map { String($0.status) } ?? "none") after \(took)")
            }
        }
        #expect(slow.isEmpty, "probes starved by idle connections: \(slow)")
        daemon.signal(SIGTERM)
        #expect(await daemon.waitForExit(timeout: .seconds(45)) == 0)
    }

    @Test("an output Kafka will not take: logged, counted, /readyz 503 with the reason, and SIGTERM still exits 0")
    func refusedOutputNeverWedges() async throws {
        let procs = try Processes("refused-output")
        defer { procs.teardown() }
        let (_, brokers) = try await procs.devBroker()
        let config = try Self.writeConfig(procs.directory, "")
        // The producer takes at most 1,000 bytes: a dead letter of a 2,000-byte message is always refused.
        let daemon = try Self.runDaemon(procs, config: config, brokers: brokers, environment: [
            "TOKENWATCH_KAFKA_LIBRDKAFKA_MESSAGE_MAX_BYTES": "1000",
            "TOKENWATCH_KAFKA_LIBRDKAFKA_BATCH_SIZE": "1000",
        ])
        let port = try await httpAddress(of: daemon).port
        try await Self.produce(brokers, [[UInt8](repeating: UInt8(ascii: "x"), count: 2_000),
                                         Self.event("ok", user: "u", ts: 1_795_219_200_000, tokens: 5)])
        var readiness = ""
        let refused = await eventually(timeout: .seconds(60)) {
            let r = get(port: port, "/readyz")
            readiness = r.map { "\($0.status) \($0.body)" } ?? "no answer"
            return r?.status == 503 && (r?.body.contains("refused by Kafka") ?? false)
        }
        #expect(refused, "readyz: \(readiness); stderr:\n\(daemon.stderr.suffix(2000))")
        let samples = try parsePrometheus(get(port: port, "/metrics")?.body ?? "")
        #expect(samples.contains { $0.name == "tokenwatch_output_errors_total" && $0.value >= 1 })
        #expect(samples.contains { $0.name == "tokenwatch_outputs_blocked" && $0.value == 1 })
        #expect(daemon.stderr.contains("output refused by Kafka"))
        #expect(get(port: port, "/healthz")?.status == 200, "the loop still runs")

        daemon.signal(SIGTERM)
        let exit = await daemon.waitForExit(timeout: .seconds(45))  // the unit's TimeoutStopSec
        #expect(exit == 0, "stderr:\n\(daemon.stderr.suffix(3000))")
    }
}
