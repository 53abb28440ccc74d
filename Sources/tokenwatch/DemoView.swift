import Foundation
import TokenwatchCore
import TokenwatchService

/// The demo's live view, 80×24: headline, adoption against the mandate, the 1h board (raw vs effective,
/// suspicion, flags) and the newest alerts. On a terminal it redraws in place, in colour unless `NO_COLOR`
/// is set; otherwise (a pipe, a file) it prints plain frames one after another and never clears anything.
struct DemoView: Sendable {
    let pipeline: Pipeline
    let target: Double
    /// Where the dashboard is, repeated in every frame (a redraw clears the banner).
    let dashboard: String
    let tty = isatty(STDOUT_FILENO) == 1
    let colour = isatty(STDOUT_FILENO) == 1 && ProcessInfo.processInfo.environment["NO_COLOR"].map(\.isEmpty) ?? true
    static let width = 80

    func banner(_ text: String) { FileHandle.standardOutput.write(Data((Self.fit(text) + "\n").utf8)) }

    func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(tty ? 1 : 10))
            if Task.isCancelled { return }
            let frame = render()
            FileHandle.standardOutput.write(Data(((tty ? "\u{1B}[H\u{1B}[2J" : "\n") + frame).utf8))
        }
    }

    func render() -> String {
        let boards = pipeline.events.latestBoards.compactMapValues { Self.object($0) }
        let alerts = Self.alertStates(pipeline.events.recentAlerts)
        let status = pipeline.status
        var lines: [String] = []
        let firing = alerts.filter { $0["state"] as? String == "firing" }.count
        lines.append(Self.fit("tokenwatch demo · event time \(status.watermark.map { Self.time($0) } ?? "–") · "
                              + "\(status.consumed) events · \(firing) alerts firing"))
        lines.append(Self.fit("dashboard \(dashboard) · Ctrl-C to stop"))
        lines.append(adoption(boards))
        lines.append("")
        lines += board(boards["1h|global"])
        lines.append("")
        lines.append("alerts, newest first")
        for a in alerts.prefix(6) { lines.append(alertLine(a)) }
        if alerts.isEmpty { lines.append("  none yet") }
        return lines.joined(separator: "\n") + "\n"
    }

    func adoption(_ boards: [String: [String: Any]]) -> String {
        var parts: [String] = []
        for window in ["1h", "24h"] {
            guard let a = boards["\(window)|global"]?["adoption"] as? [String: Any] else { continue }
            let raw = (a["active_ratio"] as? NSNumber)?.doubleValue ?? 0, eff = (a["effective_active_ratio"] as? NSNumber)?.doubleValue ?? 0
            parts.append("\(window) \(Self.pct(raw)) raw / \(paint(Self.pct(eff), eff >= target ? "32" : "31")) real")
        }
        return "adoption " + (parts.isEmpty ? "–" : parts.joined(separator: " · ")) + " · mandate \(Self.pct(target))"
    }

    func board(_ board: [String: Any]?) -> [String] {
        guard let board, let entries = board["entries"] as? [[String: Any]] else { return ["1h board: waiting for the first snapshot"] }
        var out = ["1h board, ranked by \(board["rank_by"] as? String ?? "?")",
                   "  #  user         team        raw tokens  effective  susp  flags"]
        for e in entries.prefix(8) {
            let s = (e["suspicion"] as? NSNumber)?.doubleValue ?? 0
            let flags = (e["flags"] as? [String] ?? []).joined(separator: ",")
            let row = Self.left(String((e["rank"] as? Int) ?? 0), 3) + "  " + Self.pad(e["user_id"] as? String ?? "?", 12) + " "
                + Self.pad(e["team"] as? String ?? "?", 11) + " " + Self.left(Self.tokens(e["tokens"]), 10) + " "
                + Self.left(Self.tokens(e["effective_tokens"]), 10) + "  " + String(format: "%4.2f", s) + "  "
            let room = max(0, Self.width - row.count)
            out.append(row + paint(String(flags.prefix(room)), "33"))
        }
        return out
    }

    func alertLine(_ a: [String: Any]) -> String {
        let state = (a["state"] as? String ?? "?").uppercased()
        let severity = a["severity"] as? String ?? "?"
        let head = "  \(Self.time((a["ts"] as? NSNumber)?.int64Value ?? 0)) "
        let rest = " \(Self.pad(a["rule"] as? String ?? "?", 18)) \(a["summary"] as? String ?? "")"
        let text = String((Self.pad(state, 8) + rest).prefix(Self.width - head.count))
        let stateText = String(text.prefix(8)), tail = String(text.dropFirst(8))
        let code = state == "RESOLVED" ? "32" : severity == "critical" ? "31" : severity == "warning" ? "33" : "36"
        return head + paint(stateText, code) + tail
    }

    func paint(_ text: String, _ code: String) -> String { colour && !text.isEmpty ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }

    /// The newest message of each alert id, newest first by event time.
    static func alertStates(_ messages: [[UInt8]]) -> [[String: Any]] {
        var latest: [String: [String: Any]] = [:]
        for m in messages { if let o = object(m), let id = o["alert_id"] as? String { latest[id] = o } }
        return latest.values.sorted { (($0["ts"] as? NSNumber)?.int64Value ?? 0) > (($1["ts"] as? NSNumber)?.int64Value ?? 0) }
    }

    static func object(_ bytes: [UInt8]) -> [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] }
    static func fit(_ s: String) -> String { String(s.prefix(width)) }
    static func left(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? String(s.prefix(n)) : s + String(repeating: " ", count: n - s.count) }
    static func pct(_ r: Double) -> String { "\(Int((r * 100).rounded()))%" }
    static func time(_ ms: Int64) -> String { String(RFC3339.format(ms).dropFirst(5).prefix(11)).replacingOccurrences(of: "T", with: " ") }

    static func tokens(_ value: Any?) -> String {
        let n = (value as? NSNumber)?.int64Value ?? 0
        if n >= 1_000_000 { return String(format: "%.2fM", Double(n) / 1_000_000) }
        if n >= 10_000 { return String(format: "%.1fk", Double(n) / 1_000) }
        return String(n)
    }
}
