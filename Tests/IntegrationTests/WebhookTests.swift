import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A local HTTP receiver for webhook posts: records each request's path and body and answers 200,
/// except the first `failFirst` requests to a path, which get 500 (to exercise the retries).
final class WebhookReceiver: Sendable {
    let port: Int
    private let fd: Int32
    private let received = Mutex<[(path: String, body: String, headers: [String: String])]>([])
    private let failures = Mutex<[String: Int]>([:])

    init(failFirst: [String: Int] = [:]) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 64) == 0 else { throw HarnessError("webhook receiver: cannot listen") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        port = Int(UInt16(bigEndian: addr.sin_port))
        self.fd = fd
        failures.withLock { $0 = failFirst }
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    func close() { shutdown(fd, Int32(SHUT_RDWR)); Glibc.close(fd) }

    /// Bodies posted to `path`, in arrival order.
    func bodies(_ path: String) -> [String] { received.withLock { $0.filter { $0.path == path }.map(\.body) } }
    func headers(_ path: String) -> [[String: String]] { received.withLock { $0.filter { $0.path == path }.map(\.headers) } }

    private func acceptLoop() {
        while true {
            let client = accept(fd, nil, nil)
            if client < 0 { if errno == EINTR { continue } else { return } }
            serve(client)
            Glibc.close(client)
        }
    }

    /// Reads one request (head, then Content-Length bytes of body; answers `Expect: 100-continue`).
    private func serve(_ client: Int32) {
        var tv = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var headEnd: Int?
        var continued = false
        while true {
            if headEnd == nil, let r = data.firstRange(of: Array("\r\n\r\n".utf8)) { headEnd = r.upperBound }
            if let end = headEnd {
                let head = String(decoding: data[..<end], as: UTF8.self)
                let headers = Self.headers(head)
                if headers["expect"]?.lowercased() == "100-continue" && !continued && data.count == end {
                    _ = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8).withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    continued = true
                }
                let length = Int(headers["content-length"] ?? "0") ?? 0
                if data.count - end >= length {
                    let path = head.split(separator: " ").dropFirst().first.map(String.init) ?? "?"
                    let body = String(decoding: data[end..<(end + length)], as: UTF8.self)
                    answer(client, path: path, body: body, headers: headers)
                    return
                }
            }
            let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return }
            data += buffer[0..<n]
        }
    }

    private func answer(_ client: Int32, path: String, body: String, headers: [String: String]) {
        let fail = failures.withLock { f -> Bool in
            guard let left = f[path], left > 0 else { return false }
            f[path] = left - 1
            return true
        }
        if !fail { received.withLock { $0.append((path, body, headers)) } }
        let reply = fail ? "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                         : "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        _ = Array(reply.utf8).withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    static func headers(_ head: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in head.split(separator: "\r\n").dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            out[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return out
    }
}

@Suite("Alert delivery to webhooks", .serialized)
struct WebhookTests {
    @Test("each firing and resolved alert reaches each webhook once, in Alertmanager and Slack format, across a restart that republishes them")
    func onceAcrossRestart() async throws {
        try await Harness.run("webhooks") { h in
            let receiver = try WebhookReceiver(failFirst: ["/slack": 2])
            defer { receiver.close() }
            let config = h.directory.appendingPathComponent("webhooks.yaml")
            try Data("""
                alerting:
                  webhooks:
                    - url: http://127.0.0.1:\(receiver.port)/am
                      format: alertmanager
                      bearer_token_env: TEST_WEBHOOK_TOKEN
                    - url: http://127.0.0.1:\(receiver.port)/slack
                      format: slack
                      min_severity: warning

                """.utf8).write(to: config)
            let (_, brokers) = try await h.startBroker(partitions: 4)
            let lines = try await Self.population(h)
            let state = h.directory.appendingPathComponent("state")
            func daemon() throws -> Child {
                try h.spawn("tokenwatch-run", h.tokenwatch, ["run", "--config", config.path, "--brokers", brokers, "--state-dir", state.path],
                            environment: h.environment(["TOKENWATCH_HTTP_LISTEN": "127.0.0.1:0", "TEST_WEBHOOK_TOKEN": "s3cret",
                                                        "TOKENWATCH_KAFKA_LIBRDKAFKA_SESSION_TIMEOUT_MS": "6000",
                                                        "TOKENWATCH_LEADERBOARD_SNAPSHOT_INTERVAL": "10m",
                                                        "TOKENWATCH_STATE_CHECKPOINT_INTERVAL": "2s",
                                                        // The restart must rebuild from the input, not take the state from the changelog.
                                                        "TOKENWATCH_STATE_CHANGELOG": "false"]))
            }
            // First day, then a restart whose state is rebuilt from the input: every alert so far is published again.
            let half = lines.count / 2
            var run = try daemon()
            try await h.produce(brokers: brokers, topic: "ai-usage", Array(lines[..<half]))
            try await Self.waitForBoards(h, brokers: brokers, through: Array(lines[..<half]), daemon: run)
            try await Self.waitForDeliveries(h, receiver, brokers: brokers, daemon: run)
            h.expect(try await h.stop(run) == 0, "the first run did not stop cleanly")
            try FileManager.default.removeItem(at: state.appendingPathComponent("engine.checkpoint"))
            run = try daemon()
            try await h.produce(brokers: brokers, topic: "ai-usage", Array(lines[half...]))
            try await Self.waitForBoards(h, brokers: brokers, through: lines, daemon: run)
            let expected = try await Self.waitForDeliveries(h, receiver, brokers: brokers, daemon: run)
            try await Self.checkAlertLatencyMetrics(h, daemon: run)
            h.expect(try await h.stop(run) == 0, "the second run did not stop cleanly")

            let republished = expected.all - expected.distinct.count
            h.expect(republished > 0, "the restart republished no alert, so it tested nothing")
            let am = receiver.bodies("/am").compactMap { Self.object($0) }
            let amKeys = am.compactMap { o -> String? in
                guard let a = (o["alerts"] as? [[String: Any]])?.first, let labels = a["labels"] as? [String: String] else { return nil }
                return "\(labels["alert_id"] ?? "")|\(a["status"] as? String ?? "")"
            }
            h.expect(amKeys.sorted() == expected.distinct.sorted(),
                     "alertmanager posts: \(amKeys.count) for \(expected.distinct.count) alert states; repeated: \(Dictionary(grouping: amKeys, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted().prefix(5))")
            h.expect(am.allSatisfy { $0["version"] as? String == "4" && $0["status"] != nil }, "not Alertmanager's webhook payload")
            h.expect(receiver.headers("/am").allSatisfy { $0["authorization"] == "Bearer s3cret" }, "the bearer token was not sent")
            let slack = receiver.bodies("/slack").compactMap { Self.object($0)?["text"] as? String }
            h.expect(slack.count == expected.warningOrWorse, "slack posts: \(slack.count), alert states of warning or worse: \(expected.warningOrWorse)")
            h.expect(Set(slack).count == slack.count, "a Slack message was posted twice")
            h.expect(slack.contains { $0.contains("*FIRING*") } && slack.contains { $0.contains("*RESOLVED*") }, "no firing or no resolved message in Slack")
            print("webhooks: \(expected.distinct.count) alert states (\(republished) republished after the restart), \(am.count) alertmanager posts, \(slack.count) slack posts")
        }
    }

    /// `/metrics`: every alert this run published and the broker acknowledged is in both latency
    /// histograms (they stayed empty for a while: the alerts were sent without what they measure from).
    static func checkAlertLatencyMetrics(_ h: Harness, daemon: Child) async throws {
        guard let address = daemon.stderr.firstMatch(of: /address=(127\.0\.0\.1:\d+)/)?.output.1 else {
            throw h.fail("the daemon logged no HTTP address")
        }
        let run = try await h.runTool("curl-metrics", URL(fileURLWithPath: "/usr/bin/curl"), ["-sf", "http://\(address)/metrics"])
        let lines = run.stdout.split(separator: "\n")
        func value(_ prefix: String) -> Double {
            lines.filter { $0.hasPrefix(prefix) }.compactMap { Double($0.split(separator: " ").last ?? "") }.reduce(0, +)
        }
        let published = value("tokenwatch_alerts_total{")
        h.expect(published > 0, "the run published no alert, so the latency histograms were not tested")
        h.expect(value("tokenwatch_alert_emit_to_ack_seconds_count ") == published,
                 "alert emit-to-ack observations: \(value("tokenwatch_alert_emit_to_ack_seconds_count ")), alerts published: \(published)")
        h.expect(value("tokenwatch_alert_event_to_ack_seconds_count ") == published,
                 "alert event-to-ack observations: \(value("tokenwatch_alert_event_to_ack_seconds_count ")), alerts published: \(published)")
    }

    /// The mixed population over two days as (key, value) lines, in event-time order.
    static func population(_ h: Harness) async throws -> [(key: String, value: [UInt8])] {
        let events = h.directory.appendingPathComponent("events.jsonl")
        let gen = try await h.runTool("loadgen", h.tokenwatch, [
            "loadgen", "--config", h.emptyConfig.path, "--scenario", "mixed", "--users", "60", "--span", "2d",
            "--start", "2026-11-16T00:00:00Z", "--seed", "8", "--file", events.path,
        ])
        h.expect(gen.exitStatus == 0, "loadgen failed")
        return try String(contentsOf: events, encoding: .utf8).split(separator: "\n").map { line in
            (key: (object(String(line))?["user_id"] as? String) ?? "", value: Array(line.utf8))
        }
    }

    /// Waits until a board is published for the last snapshot the events can complete (newest event time
    /// less the allowed lateness, rounded down to the snapshot interval), so every alert they cause is out.
    static func waitForBoards(_ h: Harness, brokers: String, through lines: [(key: String, value: [UInt8])], daemon: Child) async throws {
        let newest = lines.compactMap { (object(String(decoding: $0.value, as: UTF8.self))?["ts"] as? NSNumber)?.int64Value }.max() ?? 0
        let target = (newest - 300_000) / 600_000 * 600_000
        try await h.waitUntil("a board as of \(target)", timeout: .seconds(180), every: .seconds(1), alive: [daemon]) {
            try await h.consume(brokers: brokers, topic: "tokenwatch.leaderboard").contains {
                ((object($0.value)?["as_of"] as? NSNumber)?.int64Value ?? 0) >= target
            }
        }
    }

    static func object(_ text: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any]
    }

    /// Waits until the alerts topic is quiet and the Alertmanager receiver has one post per distinct alert state.
    @discardableResult
    static func waitForDeliveries(_ h: Harness, _ receiver: WebhookReceiver, brokers: String,
                                  daemon: Child) async throws -> (distinct: [String], all: Int, warningOrWorse: Int) {
        var result: (distinct: [String], all: Int, warningOrWorse: Int) = ([], 0, 0)
        var stableSince: [String] = ["-"]
        try await h.waitUntil("webhook deliveries of every alert", timeout: .seconds(180), every: .seconds(2), alive: [daemon]) {
            let alerts = try await h.consume(brokers: brokers, topic: "tokenwatch.alerts").compactMap { object($0.value) }
            var severity: [String: String] = [:]
            for a in alerts { severity["\(a["alert_id"] ?? "")|\(a["state"] ?? "")"] = a["severity"] as? String }
            let distinct = severity.keys.sorted()
            result = (distinct, alerts.count, severity.values.filter { $0 != "info" }.count)
            defer { stableSince = distinct }
            return !distinct.isEmpty && distinct == stableSince && receiver.bodies("/am").count >= distinct.count
                && receiver.bodies("/slack").count >= result.warningOrWorse
        }
        return result
    }
}
