import Foundation
import Testing

/// The dashboard in a real browser: headless Chromium loads `/` from a daemon on the dev broker, the
/// board it shows equals the board topic's latest, and alerts arrive over `/events` without a reload.
@Suite("Dashboard in headless Chromium", .serialized)
struct DashboardBrowserTests {
    static let settings = [
        "TOKENWATCH_LEADERBOARD_SNAPSHOT_INTERVAL": "10m",
        "TOKENWATCH_LEADERBOARD_TOP_K": "10",
        "TOKENWATCH_STATE_CHECKPOINT_INTERVAL": "5s",
    ]

    /// Where the screenshot goes: `DASHBOARD_SCREENSHOT` or the temporary directory.
    static var screenshotPath: URL {
        if let path = ProcessInfo.processInfo.environment["DASHBOARD_SCREENSHOT"] { return URL(fileURLWithPath: path) }
        return FileManager.default.temporaryDirectory.appendingPathComponent("tokenwatch-dashboard.png")
    }

    @Test("the page shows the topic's latest board and receives alerts over SSE without reloading")
    func dashboardShowsBoardsAndLiveAlerts() async throws {
        try await Harness.run("dashboard") { h in
            let (_, brokers) = try await h.startBroker(partitions: 4)
            let daemon = try h.startDaemon(brokers: brokers, stateDirectory: h.directory.appendingPathComponent("state"),
                                           settings: Self.settings)
            let base = try await Self.httpBase(of: daemon, h)
            let browser = try Chromium(directory: h.directory)
            try browser.open(base + "/")
            // Connected and replayed (nothing yet): whatever alert shows up later came over the stream.
            try await h.waitUntil("the page to open its event stream", timeout: .seconds(60), alive: [daemon]) {
                (try? browser.evaluate("document.body !== null && document.body.dataset.ready === '1'") as? Bool) == true
            }
            let loadId = try browser.evaluate("window.__tw.loadId") as? String
            let before = try browser.evaluate("document.querySelectorAll('#alerts li[data-alert-id]').length") as? Int
            h.expect(before == 0, "alerts on the page before any input: \(before ?? -1)")

            // A mixed population (gaming personas and legitimate heavy users) over two simulated days.
            let gen = try await h.runTool("loadgen", h.tokenwatch, [
                "loadgen", "--brokers", brokers, "--config", h.emptyConfig.path, "--scenario", "mixed", "--users", "60",
                "--span", "2d", "--start", "2026-11-16T00:00:00Z", "--seed", "8",
            ], timeout: .seconds(120))
            h.expect(gen.exitStatus == 0, "loadgen failed: \(gen.stderr)")

            try await h.waitUntil("an alert in the page's feed", timeout: .seconds(120), alive: [daemon]) {
                ((try browser.evaluate("document.querySelectorAll('#alerts li[data-live=\"1\"]').length") as? Int) ?? 0) > 0
            }
            h.expect(try browser.evaluate("window.__tw.loadId") as? String == loadId, "the page was reloaded")
            try await Self.expectBoardEqualsTopic(h, browser: browser, brokers: brokers, daemon: daemon)
            try Self.expectUserExplanation(h, browser: browser)

            let png = try browser.screenshot()
            try png.write(to: Self.screenshotPath)
            h.expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 20_000,
                     "the screenshot is not a PNG of a rendered page (\(png.count) bytes)")
            print("dashboard screenshot: \(Self.screenshotPath.path) (\(png.count) bytes)")
        }
    }

    /// The board the page shows (key, as_of, every row) equals the latest record of that key on the topic.
    /// A newer board may land between the two reads, so both are read again until they meet.
    static func expectBoardEqualsTopic(_ h: Harness, browser: Chromium, brokers: String, daemon: Child) async throws {
        let script = """
            JSON.stringify({key: document.getElementById('board').dataset.key, asOf: Number(document.getElementById('board').dataset.asOf),
              rows: [...document.querySelectorAll('#board tbody tr[data-user]')].map(r =>
                [r.dataset.user, Number(r.dataset.rank), Number(r.dataset.tokens), Number(r.dataset.effective)]),
              text: document.querySelector('#board tbody').innerText})
            """
        var last = ""
        try await h.waitUntil("the page's board to equal the topic's latest", timeout: .seconds(60), alive: [daemon]) {
            guard let json = try browser.evaluate(script) as? String,
                  let shown = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
                  let key = shown["key"] as? String, !key.isEmpty, let rows = shown["rows"] as? [[Any]] else { return false }
            let records = try await h.consume(brokers: brokers, topic: "tokenwatch.leaderboard").filter { $0.key == key }
            guard let latest = records.last,
                  let board = try JSONSerialization.jsonObject(with: Data(latest.value.utf8)) as? [String: Any],
                  let entries = board["entries"] as? [[String: Any]] else { return false }
            let expected = entries.map { e -> String in
                "\(e["user_id"] ?? "")|\(e["rank"] ?? "")|\(e["tokens"] ?? "")|\(e["effective_tokens"] ?? "")"
            }
            let actual = rows.map { r in r.map { "\($0)" }.joined(separator: "|") }
            last = "page \(key) as_of \(shown["as_of"] ?? shown["asOf"] ?? "?"): \(actual)\ntopic as_of \(board["as_of"] ?? "?"): \(expected)"
            let asOf = (board["as_of"] as? NSNumber)?.int64Value
            let text = shown["text"] as? String ?? ""
            // The numbers the person reads are there too, not only in data attributes.
            let visible = entries.allSatisfy { text.contains($0["user_id"] as? String ?? "\u{0}") }
            return asOf == (shown["asOf"] as? NSNumber)?.int64Value && !expected.isEmpty && actual == expected && visible
        }
        if last.isEmpty { h.expect(false, "no board compared") }
    }

    /// `/users/<id>` of the person in the feed's first alert: the explanation with every rule's reading
    /// and that person's alerts, fetched by the page's own origin.
    static func expectUserExplanation(_ h: Harness, browser: Chromium) throws {
        let script = """
            (async () => { const u = document.querySelector('#alerts li[data-user]').dataset.user;
              const r = await fetch('/users/' + encodeURIComponent(u)); return JSON.stringify({u, status: r.status, body: await r.json()}); })()
            """
        guard let text = try browser.evaluate(script, awaitPromise: true) as? String,
              let reply = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
              let body = reply["body"] as? [String: Any] else { throw h.fail("/users/<id> gave no JSON") }
        h.expect(reply["status"] as? Int == 200, "/users/\(reply["u"] ?? "?") answered \(reply["status"] ?? "?")")
        h.expect(body["schema"] as? String == "tokenwatch.user.v1", "schema: \(body["schema"] ?? "nil")")
        let rules = body["rules"] as? [[String: Any]] ?? []
        // Every rule of the catalog (eight with hollow_outcomes), each with its measures.
        h.expect(rules.count == 8 && rules.allSatisfy { ($0["measures"] as? [Any])?.isEmpty == false },
                 "every rule with its readings: \(rules.map { $0["rule"] ?? "?" })")
        h.expect((body["alerts"] as? [Any])?.isEmpty == false, "the person's alerts are in /users/<id>")
    }

    /// `http://host:port` from the daemon's `http listening address=…` log line.
    static func httpBase(of daemon: Child, _ h: Harness) async throws -> String {
        var address = ""
        try await h.waitUntil("the daemon's HTTP address", timeout: .seconds(30), alive: [daemon]) {
            for line in daemon.stderr.split(separator: "\n") where line.contains("http listening") {
                if let range = line.range(of: "address=") {
                    address = String(line[range.upperBound...].prefix { !$0.isWhitespace && $0 != "\"" })
                    return true
                }
            }
            return false
        }
        return "http://" + address
    }
}
