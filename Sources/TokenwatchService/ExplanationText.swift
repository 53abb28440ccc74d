import Foundation
import TokenwatchCore

/// `tokenwatch explain` as text: what a manager reads before talking to someone, within 80 columns.
public enum ExplanationText {
    /// The whole report; `alerts` are the person's alert messages (JSON), oldest first.
    public static func render(_ e: Explanation, alerts: [[UInt8]]) -> String {
        var out = header(e)
        out += "\nRule readings (each rule fires when all its conditions hold):\n"
        for r in e.readings { out += reading(r) }
        out += "\n" + verdict(e)
        out += "\nAlerts (firing and resolved):\n" + alertLines(alerts)
        out += "\nHourly usage over the \(e.window) window:\n" + hourly(e.hourly)
        return out
    }

    static func header(_ e: Explanation) -> String {
        let s = e.summary
        var out = "\(s.userId) (team \(s.team ?? "unknown"))\(s.isServiceAccount ? ", a service account" : "")"
        out += e.asOf.map { ", as of \(RFC3339.format($0))\n" } ?? ", no snapshot yet\n"
        out += "  suspicion \(fixed(s.suspicion, 2)) · flags: \(e.flags.isEmpty ? "none" : e.flags.joined(separator: ", "))"
        out += " · counts in effective adoption: \(e.countsAsReal ? "yes" : "no")\n"
        for f in s.windows {
            out += "  \(pad(f.window, 4)) raw \(pad(tokens(f.tokens), 7)) effective \(pad(tokens(f.effectiveTokens), 7))"
            out += " events \(pad(String(f.events), 6)) outcomes \(f.outcomes)\n"
        }
        out += wrap("Why effective differs from raw: \(e.effectiveReason)", indent: "  ")
        return out
    }

    static func reading(_ r: RuleReading) -> String {
        let state = !r.enabled ? "disabled" : r.openAlert != nil ? "FIRING" : r.conditionsMet ? "conditions hold" : "quiet"
        var out = "  \(r.rule) (\(r.severity)): \(state)\n"
        for m in r.measures {
            out += "    \(m.met ? "✔" : "·") \(pad(m.name, 30)) \(pad(number(m.value), 10)) \(m.firesWhen.rawValue) \(number(m.threshold))\n"
        }
        out += wrap(r.note, indent: "      ")
        if let a = r.openAlert {
            out += wrap("since \(RFC3339.format(a.since)), last seen \(RFC3339.format(a.lastSeen)), resolves after "
                        + "\(RFC3339.format(a.resolvesAfter)) if it stops: \(a.summary)", indent: "      ")
        }
        return out
    }

    /// Why nothing fired (each rule's first unmet condition), or which rules fire.
    static func verdict(_ e: Explanation) -> String {
        let firing = e.readings.filter { $0.openAlert != nil }.map(\.rule)
        if !firing.isEmpty { return wrap("Firing: \(firing.joined(separator: ", ")).", indent: "") }
        var out = "Nothing fired. Each rule's first condition that does not hold:\n"
        for r in e.readings where r.enabled {
            guard let m = r.measures.first(where: { !$0.met }) else { continue }
            out += "  \(pad(r.rule, 19)) \(m.name) \(number(m.value)), needs \(m.firesWhen.rawValue) \(number(m.threshold))\n"
        }
        return out
    }

    static func alertLines(_ alerts: [[UInt8]]) -> String {
        if alerts.isEmpty { return "  none\n" }
        var out = ""
        for bytes in alerts {
            guard let a = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else { continue }
            let ts = (a["ts"] as? NSNumber).map { RFC3339.format($0.int64Value) } ?? "?"
            out += "  \(ts) \(pad(a["state"] as? String ?? "?", 8)) \(a["rule"] as? String ?? "?") (\(a["severity"] as? String ?? "?"))\n"
            out += wrap(a["summary"] as? String ?? "", indent: "      ")
            if let evidence = a["evidence"] as? [String: Any] {
                let pairs = evidence.keys.sorted().map { "\($0)=\(evidence[$0]!)" }
                out += wrap("evidence: " + pairs.joined(separator: " "), indent: "      ")
            }
        }
        return out
    }

    static func hourly(_ hours: [HourlyUsage]) -> String {
        if hours.isEmpty { return "  no usage in this window\n" }
        let top = max(1, hours.map(\.tokens).max() ?? 1)
        return hours.map { h in
            let bar = String(repeating: "█", count: Int((Double(h.tokens) / Double(top) * 24).rounded(.up)))
            return "  \(RFC3339.format(h.hourStart).prefix(16))Z \(pad(tokens(h.tokens), 7)) \(pad(String(h.events), 5)) ev "
                + "\(pad(String(h.outcomes), 4)) out \(bar)\n"
        }.joined()
    }

    // MARK: - Formatting

    static func wrap(_ text: String, indent: String, width: Int = 80) -> String {
        var lines: [String] = []
        var line = indent
        for word in text.split(separator: " ") {
            if line.count + word.count + 1 > width && line.count > indent.count {
                lines.append(line)
                line = indent
            }
            line += (line.count > indent.count ? " " : "") + word
        }
        if line.count > indent.count { lines.append(line) }
        return lines.map { $0 + "\n" }.joined()
    }

    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
    static func fixed(_ v: Double, _ d: Int) -> String { String(format: "%.\(d)f", v) }

    static func tokens(_ n: Int64) -> String {
        let v = Double(n)
        if n >= 1_000_000 { return fixed(v / 1_000_000, 2) + "M" }
        if n >= 10_000 { return fixed(v / 1_000, 1) + "k" }
        return String(n)
    }

    static func number(_ v: Double) -> String {
        if abs(v) >= 10_000 && abs(v) < 1e15 { return tokens(Int64(v.rounded())) }
        if v == v.rounded() && abs(v) < 1e15 { return String(Int64(v)) }
        return fixed(v, abs(v) < 1 ? 3 : 2)
    }
}
