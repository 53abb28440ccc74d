import Foundation
import Kafka
import Logging

/// Reads a leaderboard topic from the beginning to its current end and keeps the newest board per key.
public enum BoardReader {
    /// key (`"<window>|<scope>"`) → the latest board's JSON object.
    public static func latestBoards(brokers: String, topic: String, librdkafka: [String: String] = [:],
                                    logger: Logger, timeout: Duration = .seconds(15)) throws -> [String: [String: Any]] {
        var boards: [String: [String: Any]] = [:]
        try TopicScan.forEach(brokers: brokers, topic: topic, librdkafka: librdkafka, logger: logger, timeout: timeout) { key, o in
            boards[String(decoding: key, as: UTF8.self)] = o
        }
        return boards
    }

    /// A fixed-width table of one board, for people.
    public static func table(_ board: [String: Any]) -> String {
        let window = board["window"] as? String ?? "?"
        let scope = board["scope"] as? String ?? "?"
        let asOf = (board["as_of"] as? NSNumber)?.int64Value ?? 0
        var lines = ["\(window) \(scope) as of \(RFC3339Text.format(asOf)) (rank by \(board["rank_by"] as? String ?? "?"))"]
        lines.append(pad("#", 4) + pad("user", 20) + pad("team", 14) + pad("tokens", 12, right: true) + pad("events", 8, right: true) + pad("effective", 12, right: true) + "  flags")
        for e in board["entries"] as? [[String: Any]] ?? [] {
            let rank = (e["rank"] as? NSNumber)?.intValue ?? 0
            let flags = (e["flags"] as? [String] ?? []).joined(separator: ",")
            lines.append(pad("\(rank)", 4) + pad(e["user_id"] as? String ?? "", 20) + pad(e["team"] as? String ?? "", 14)
                + pad("\((e["tokens"] as? NSNumber)?.int64Value ?? 0)", 12, right: true)
                + pad("\((e["events"] as? NSNumber)?.int64Value ?? 0)", 8, right: true)
                + pad("\((e["effective_tokens"] as? NSNumber)?.int64Value ?? 0)", 12, right: true) + "  " + flags)
        }
        if let a = board["adoption"] as? [String: Any] {
            lines.append("adoption: \(a["active_users"] ?? 0) active of \(a["known_users"] ?? 0) known (ratio \(a["active_ratio"] ?? 0), effective \(a["effective_active_ratio"] ?? 0))")
        }
        return lines.joined(separator: "\n")
    }

    static func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
        let cut = s.count > width - 1 ? String(s.prefix(width - 1)) : s
        let fill = String(repeating: " ", count: max(0, width - cut.count))
        return right ? fill + cut : cut + fill
    }
}

import TokenwatchCore

/// Formats event times for people.
enum RFC3339Text {
    static func format(_ ms: Int64) -> String { RFC3339.format(ms) }
}
