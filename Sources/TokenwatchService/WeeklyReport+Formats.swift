import Foundation
import TokenwatchCore

extension WeeklyReport {
    /// Markdown, for people.
    public func markdown(top: Int = 10) -> String {
        var out = "# Week \(week) (\(RFC3339.format(fromMs)) to \(RFC3339.format(toMs))), mandate \(Self.pct(target))\n\n"
        out += "## Adoption\n\n| scope | as of | active | known | raw | effective | mandate met (raw / effective) |\n|---|---|---|---|---|---|---|\n"
        for b in boards {
            let a = Self.adoption(b)
            let raw = Self.double(a["active_ratio"]), eff = Self.double(a["effective_active_ratio"])
            out += "| \(b["scope"] ?? "?") | \(RFC3339.format(Self.int(b["as_of"]))) | \(a["active_users"] ?? 0) | \(a["known_users"] ?? 0) "
                + "| \(Self.pct(raw)) | \(Self.pct(eff)) | \(raw >= target ? "yes" : "no") / \(eff >= target ? "yes" : "no") |\n"
        }
        for b in boards {
            out += "\n## Top users, raw vs effective: \(b["scope"] ?? "?")\n\n| rank | user | team | tokens | effective | suspicion | flags |\n|---|---|---|---|---|---|---|\n"
            for e in Self.entries(b).prefix(top) {
                out += "| \(e["rank"] ?? "") | \(e["user_id"] ?? "") | \(e["team"] ?? "") | \(e["tokens"] ?? 0) | \(e["effective_tokens"] ?? 0) "
                    + "| \(e["suspicion"] ?? 0) | \((e["flags"] as? [String] ?? []).joined(separator: ", ")) |\n"
            }
        }
        out += "\n## Alerts by rule\n\n| rule | firing | resolved |\n|---|---|---|\n"
        for r in alertsByRule { out += "| \(r.rule) | \(r.firing) | \(r.resolved) |\n" }
        if alertsByRule.isEmpty { out += "| none | 0 | 0 |\n" }
        return out
    }

    /// CSV: one row per board entry and per scope's adoption and per rule, with a `kind` column.
    public func csv() -> String {
        var out = "kind,scope,as_of,rank,user_id,team,tokens,effective_tokens,suspicion,flags,active_users,known_users,active_ratio,effective_active_ratio,rule,firing,resolved\n"
        for b in boards {
            let scope = Self.field(b["scope"] as? String ?? ""), asOf = Self.int(b["as_of"])
            let a = Self.adoption(b)
            out += "adoption,\(scope),\(asOf),,,,,,,,\(a["active_users"] ?? 0),\(a["known_users"] ?? 0),\(a["active_ratio"] ?? 0),\(a["effective_active_ratio"] ?? 0),,,\n"
            for e in Self.entries(b) {
                out += "entry,\(scope),\(asOf),\(e["rank"] ?? ""),\(Self.field(e["user_id"] as? String ?? "")),\(Self.field(e["team"] as? String ?? "")),"
                    + "\(e["tokens"] ?? 0),\(e["effective_tokens"] ?? 0),\(e["suspicion"] ?? 0),\(Self.field((e["flags"] as? [String] ?? []).joined(separator: ";"))),,,,,,,\n"
            }
        }
        for r in alertsByRule { out += "alerts,,,,,,,,,,,,,,\(Self.field(r.rule)),\(r.firing),\(r.resolved)\n" }
        return out
    }

    /// JSON (`tokenwatch.report.v1`).
    public func json() -> String {
        let object: [String: Any] = [
            "schema": "tokenwatch.report.v1", "week": week, "from": fromMs, "to": toMs, "adoption_target": target,
            "boards": boards,
            "alerts_by_rule": alertsByRule.map { ["rule": $0.rule, "firing": $0.firing, "resolved": $0.resolved] as [String: Any] },
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    static func pct(_ r: Double) -> String { "\(Int((r * 100).rounded()))%" }

    /// A CSV field, quoted when it holds a comma, a quote or a line break.
    static func field(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
