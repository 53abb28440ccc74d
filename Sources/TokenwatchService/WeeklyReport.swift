import Foundation
import TokenwatchCore

/// `tokenwatch report --week`: per scope the weekly adoption against the mandate (raw and effective),
/// top users raw vs effective, and alerts by rule, from published boards and alerts.
public struct WeeklyReport {
    public let week: String
    public let fromMs: Int64
    public let toMs: Int64
    public let target: Double
    /// The board chosen per scope: the 7-day window's board at the week's end, or the newest within the week.
    public let boards: [[String: Any]]
    /// Per rule: firing and resolved messages with event time in the week.
    public let alertsByRule: [(rule: String, firing: Int, resolved: Int)]

    /// `2026-W47` → Monday 00:00 UTC of that ISO week (ms); nil when not a week.
    public static func weekStart(_ text: String) -> Int64? {
        let parts = text.split(separator: "-")
        guard parts.count == 2, let year = Int(parts[0]), parts[1].hasPrefix("W"), let week = Int(parts[1].dropFirst()),
              (1...53).contains(week), (1970...9999).contains(year) else { return nil }
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let components = DateComponents(weekday: 2, weekOfYear: week, yearForWeekOfYear: year)
        guard let date = calendar.date(from: components),
              calendar.component(.weekOfYear, from: date) == week else { return nil }
        return Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    /// Chooses the boards of `window` for the week (optionally one team) and counts the week's alerts.
    public init(week: String, fromMs: Int64, window: String, team: String?, target: Double,
                boards all: [[String: Any]], alerts: [[String: Any]]) {
        self.week = week
        self.fromMs = fromMs
        toMs = fromMs + 7 * 86_400_000
        self.target = target
        var newest: [String: [String: Any]] = [:]
        for b in all where b["window"] as? String == window {
            let asOf = Self.int(b["as_of"])
            guard asOf > fromMs, asOf <= toMs, let scope = b["scope"] as? String else { continue }
            if let team, scope != "team:" + team { continue }
            if asOf >= Self.int(newest[scope]?["as_of"]) { newest[scope] = b }
        }
        boards = newest.keys.sorted { $0 == "global" ? true : $1 == "global" ? false : $0 < $1 }.map { newest[$0]! }
        var counts: [String: (Int, Int)] = [:]
        for a in alerts {
            let ts = Self.int(a["ts"])
            guard ts >= fromMs, ts < toMs, team == nil || a["team"] as? String == team, let rule = a["rule"] as? String else { continue }
            var c = counts[rule] ?? (0, 0)
            if a["state"] as? String == "resolved" { c.1 += 1 } else { c.0 += 1 }
            counts[rule] = c
        }
        alertsByRule = counts.keys.sorted().map { ($0, counts[$0]!.0, counts[$0]!.1) }
    }

    static func int(_ v: Any?) -> Int64 { (v as? NSNumber)?.int64Value ?? Int64.min }
    static func double(_ v: Any?) -> Double { (v as? NSNumber)?.doubleValue ?? 0 }
    static func adoption(_ b: [String: Any]) -> [String: Any] { b["adoption"] as? [String: Any] ?? [:] }
    static func entries(_ b: [String: Any]) -> [[String: Any]] { b["entries"] as? [[String: Any]] ?? [] }
}
