import Foundation
import Testing
import TokenwatchCore
@testable import TokenwatchService

/// deploy/prometheus and deploy/grafana: the rules pass promtool's own check and unit tests, and every
/// series the rules and the dashboard read is one the daemon exports, with no per-user label.
@Suite("Monitoring assets in deploy/")
struct MonitoringAssetsTests {
    static let deploy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("deploy")

    /// Metric names the daemon exports, from a status with every optional figure set.
    static func exported() -> Set<String> {
        var s = PipelineStatus()
        s.watermark = 1_795_000_000_000
        s.lastSnapshotAt = 1_795_000_000_000
        s.lastCheckpointAtMs = 1_795_000_000_000
        s.lastCheckpointWriteMs = 10
        s.lag = [0: 1]
        s.activeUsers = [(window: "1h", users: 1)]
        s.alertsByRule = ["machine_cadence": 1]
        s.counters.deadLetters = ["not_json": 1]
        s.attribution = ["claude_code": ToolAttribution(attributed: 9, unattributed: 1, unattributedTokens: 10)]
        var names = Set<String>()
        for line in PrometheusText.render(status: s, counters: ServiceCounters()).split(separator: "\n") where !line.hasPrefix("#") {
            let name = String(line.prefix { $0 != "{" && $0 != " " })
            names.insert(name)
            for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) { names.insert(String(name.dropLast(suffix.count))) }
        }
        return names
    }

    /// Every `tokenwatch_…` name in `text`.
    static func referenced(_ text: String) -> Set<String> {
        let regex = try! Regex("tokenwatch_[a-z_]+")
        return Set(text.matches(of: regex).map { String(text[$0.range]) })
    }

    /// Label names an expression groups by or matches on (`by (a, b)`, `{a="x", b=~"y"}`).
    static func labelNames(_ expr: String) -> Set<String> {
        var names = Set<String>()
        for match in expr.matches(of: try! Regex(#"(?:by|without)\s*\(([^)]*)\)"#)) {
            let inner = expr[match.range].drop { $0 != "(" }.dropFirst().dropLast()
            for label in inner.split(separator: ",") { names.insert(label.trimmingCharacters(in: .whitespaces)) }
        }
        for match in expr.matches(of: try! Regex(#"[{,]\s*([a-zA-Z_]+)\s*(?:=~|!~|!=|=)"#)) {
            let text = expr[match.range].drop { $0 == "{" || $0 == "," || $0 == " " }
            names.insert(String(text.prefix { $0.isLetter || $0 == "_" }))
        }
        return names
    }

    @Test("label names are found in groupings and matchers")
    func labelNamesParse() {
        #expect(Self.labelNames(#"sum by (instance, reason) (rate(x{instance=~"$i", user_id="a"}[5m]))"#)
                == ["instance", "reason", "user_id"])
    }

    func promtool(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/promtool")
        process.arguments = arguments
        process.currentDirectoryURL = Self.deploy.appendingPathComponent("prometheus")
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    @Test("promtool check rules and promtool test rules pass (Debian's prometheus package; .ci/run installs it)")
    func rulesPassPromtool() throws {
        #expect(FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool"), "promtool missing: apt-get install prometheus")
        let check = try promtool(["check", "rules", "tokenwatch-rules.yml"])
        #expect(check.status == 0, "\(check.output)")
        let test = try promtool(["test", "rules", "tokenwatch-rules.test.yml"])
        #expect(test.status == 0, "\(test.output)")
    }

    @Test("the rules and the dashboard read only series the daemon exports, and no per-user label")
    func seriesExist() throws {
        let exported = Self.exported()
        let rules = try String(contentsOf: Self.deploy.appendingPathComponent("prometheus/tokenwatch-rules.yml"), encoding: .utf8)
        let dashboardData = try Data(contentsOf: Self.deploy.appendingPathComponent("grafana/tokenwatch-dashboard.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: dashboardData) as? [String: Any])
        let panels = try #require(dashboard["panels"] as? [[String: Any]])
        #expect(panels.count >= 10)
        let exprs = panels.flatMap { ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String } }
        #expect(exprs.count >= panels.count, "a panel without a query")
        var rulesExprs = rules.split(separator: "\n").filter { $0.contains("expr:") }.map(String.init)
        rulesExprs.append(contentsOf: exprs)
        for expr in rulesExprs {
            let unknown = Self.referenced(expr).subtracting(exported)
            #expect(unknown.isEmpty, "\(expr) reads series the daemon does not export: \(unknown.sorted())")
            let labels = Self.labelNames(expr)
            #expect(!labels.contains { $0.contains("user") }, "a per-user label in \(expr): \(labels.sorted())")
        }
        for needed in ["tokenwatch_consumer_lag_messages", "tokenwatch_dead_letters_total", "tokenwatch_alerts_total",
                       "tokenwatch_watermark_delay_seconds", "tokenwatch_checkpoint_age_seconds", "tokenwatch_events_total"] {
            #expect(exprs.contains { $0.contains(needed) }, "the dashboard does not show \(needed)")
        }
    }
}
