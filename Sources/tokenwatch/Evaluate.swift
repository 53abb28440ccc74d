import ArgumentParser
import Foundation

/// Scores alerts against ground truth: per persona, how many users were alerted.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score alerts against ground-truth labels: per-persona detection, precision, recall, false-positive rate.",
        discussion: """
            A user is caught when at least one firing alert at --min-severity or above names them (default: warning, so info alerts count neither way). Gaming personas are the detection targets; regular, power_user, crunch and service users are legitimate, and any alert at that severity on them is a false positive. Precision and recall are per user.

            Column "own rule" counts users alerted by the rule built for their persona, at any severity. "by design" also counts a gaming user as caught when its own rule fired at that rule's configured severity (padder: mandate_minimum is info by design).
            """)

    @Option(help: "labels.json from `simulate` or `loadgen --labels`.") var labels: String
    @Option(help: "alerts.jsonl: one tokenwatch.alert.v1 message per line.") var alerts: String
    @Option(help: "Lowest severity that counts as an alert: info, warning or critical.") var minSeverity = "warning"
    @Flag(help: "Print the result as one JSON object.") var json = false

    static let order = ["info": 0, "warning": 1, "critical": 2]

    func validate() throws {
        if Self.order[minSeverity] == nil { throw ValidationError("--min-severity must be info, warning or critical") }
    }

    /// The contents of the file an option names, or a usage error saying why it cannot be read.
    static func read(_ path: String, _ option: String) throws -> Data {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ValidationError("\(option) \(path): no such file")
        }
        guard !isDirectory.boolValue, let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("\(option) \(path): \(isDirectory.boolValue ? "is a directory" : "cannot be read")")
        }
        return data
    }

    struct Row {
        var persona: String
        var gaming: Bool
        var rule: String?
        var users = 0
        var caught = 0
        var ownRule = 0
        var byDesign = 0
        var anySeverity = 0
        var rules: [String: Int] = [:]
        /// Time to detect per caught gaming user with a known first gaming event (ms, at least 0).
        var detectMs: [Int64] = []
        /// Legitimate users alerted: user, rule and summary of their first alert at the severity.
        var falsePositives: [(user: String, rule: String, summary: String)] = []
    }

    /// One firing alert as `evaluate` reads it.
    struct Fired {
        var rule: String
        var severity: Int
        var ts: Int64
        var summary: String
    }

    /// The q-quantile (nearest rank) of sorted values, in hours.
    static func hours(_ sorted: [Int64], _ q: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let i = min(sorted.count - 1, max(0, Int((q * Double(sorted.count)).rounded(.up)) - 1))
        return Double(sorted[i]) / 3_600_000
    }

    func run() throws {
        let labelData = try Self.read(labels, "--labels")
        guard let root = (try? JSONSerialization.jsonObject(with: labelData)) as? [String: Any],
              let users = root["users"] as? [String: [String: Any]] else {
            throw ValidationError("\(labels) is not a labels file (no \"users\" object)")
        }
        let personaInfo = root["personas"] as? [String: [String: Any]] ?? [:]
        let alerted = try readAlerts(labelled: users)
        let rows = Self.rows(users: users, personas: personaInfo, fired: alerted.fired, threshold: Self.order[minSeverity]!)
        let ordered = rows.values.sorted { a, b in a.gaming != b.gaming ? !a.gaming : a.persona < b.persona }
        let score = Score(ordered)
        if json {
            try printJSON(ordered, score, messages: alerted.messages, unlabelled: alerted.unlabelled.count)
        } else {
            printTable(ordered, score, messages: alerted.messages, unlabelled: alerted.unlabelled.count)
            printDetails(ordered)
        }
    }

    /// The firing alerts by user, the users alerted that the labels do not list, and how many alert
    /// messages the file holds.
    func readAlerts(labelled users: [String: [String: Any]]) throws -> (fired: [String: [Fired]], unlabelled: Set<String>, messages: Int) {
        var fired: [String: [Fired]] = [:]
        var unlabelled = Set<String>()
        var messages = 0
        let text = String(decoding: try Self.read(alerts, "--alerts"), as: UTF8.self)
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            guard let parsed = try? JSONSerialization.jsonObject(with: Data(line.utf8)) else {
                throw ValidationError("\(alerts):\(number + 1): not a JSON alert")
            }
            guard let o = parsed as? [String: Any] else { continue }
            messages += 1
            guard o["state"] as? String == "firing", let user = o["user_id"] as? String, let rule = o["rule"] as? String else { continue }
            let severity = Self.order[o["severity"] as? String ?? "info"] ?? 0
            let ts = (o["ts"] as? NSNumber)?.int64Value ?? 0
            fired[user, default: []].append(Fired(rule: rule, severity: severity, ts: ts, summary: o["summary"] as? String ?? ""))
            if users[user] == nil { unlabelled.insert(user) }
        }
        return (fired, unlabelled, messages)
    }

    /// One row per persona: its users, who was caught at `threshold` (a severity rank), by which rules, how soon.
    static func rows(users: [String: [String: Any]], personas personaInfo: [String: [String: Any]], fired: [String: [Fired]],
                     threshold: Int) -> [String: Row] {
        let legitimate: Set<String> = ["regular", "power_user", "crunch", "service", "incident_night", "new_hire", "reader"]
        var rows: [String: Row] = [:]
        for (user, info) in users {
            let persona = info["persona"] as? String ?? "?"
            let meta = personaInfo[persona]
            let gaming = (meta?["gaming"] as? Bool) ?? !legitimate.contains(persona)
            var row = rows[persona] ?? Row(persona: persona, gaming: gaming, rule: meta?["rule"] as? String)
            row.users += 1
            let mine = fired[user] ?? []
            let caught = mine.contains { $0.severity >= threshold }
            if caught { row.caught += 1 }
            if !mine.isEmpty { row.anySeverity += 1 }
            let own = row.rule.map { r in mine.contains { $0.rule == r } } ?? false
            if own { row.ownRule += 1 }
            if caught || (gaming && own) { row.byDesign += 1 }
            let counting = mine.filter { $0.severity >= threshold || (gaming && $0.rule == row.rule) }.sorted { $0.ts < $1.ts }
            if gaming, let first = counting.first, let from = (info["gaming_from"] as? NSNumber)?.int64Value {
                row.detectMs.append(max(0, first.ts - from))
            }
            if !gaming, let first = mine.filter({ $0.severity >= threshold }).min(by: { $0.ts < $1.ts }) {
                row.falsePositives.append((user, first.rule, first.summary))
            }
            for r in Set(mine.filter { $0.severity >= threshold }.map(\.rule)) { row.rules[r, default: 0] += 1 }
            rows[persona] = row
        }
        return rows
    }

    /// Per-user confusion counts and the ratios from them, plain and "by design".
    struct Score {
        var tp: Int, fn: Int, fp: Int, tn: Int, tpDesign: Int, legitAny: Int

        init(_ ordered: [Row]) {
            let gaming = ordered.filter(\.gaming), legit = ordered.filter { !$0.gaming }
            tp = gaming.reduce(0) { $0 + $1.caught }; fn = gaming.reduce(0) { $0 + $1.users - $1.caught }
            fp = legit.reduce(0) { $0 + $1.caught }; tn = legit.reduce(0) { $0 + $1.users - $1.caught }
            tpDesign = gaming.reduce(0) { $0 + $1.byDesign }
            legitAny = legit.reduce(0) { $0 + $1.anySeverity }
        }

        var precision: Double { ratio(tp, tp + fp) }
        var recall: Double { ratio(tp, tp + fn) }
        var falsePositiveRate: Double { ratio(fp, fp + tn) }
        var precisionDesign: Double { ratio(tpDesign, tpDesign + fp) }
        var recallDesign: Double { ratio(tpDesign, tp + fn) }
    }

    func printJSON(_ ordered: [Row], _ score: Score, messages: Int, unlabelled: Int) throws {
        var out: [String: Any] = [
            "min_severity": minSeverity, "alert_messages": messages,
            "gaming_users": score.tp + score.fn, "legitimate_users": score.fp + score.tn,
            "true_positives": score.tp, "false_negatives": score.fn, "false_positives": score.fp,
            "precision": score.precision, "recall": score.recall, "false_positive_rate": score.falsePositiveRate,
            "by_design": ["true_positives": score.tpDesign, "precision": score.precisionDesign, "recall": score.recallDesign],
            "unlabelled_alerted_users": unlabelled, "legitimate_users_with_any_alert": score.legitAny,
        ]
        out["personas"] = ordered.map { r -> [String: Any] in
            var o: [String: Any] = ["persona": r.persona, "gaming": r.gaming, "users": r.users, "caught": r.caught,
                                    "rate": ratio(r.caught, r.users), "own_rule": r.ownRule, "any_severity": r.anySeverity,
                                    "rules": r.rules]
            if let rule = r.rule { o["target_rule"] = rule; o["by_design"] = r.byDesign }
            let ttd = r.detectMs.sorted()
            if !ttd.isEmpty { o["time_to_detect_hours"] = ["median": Self.hours(ttd, 0.5), "p90": Self.hours(ttd, 0.9), "max": Self.hours(ttd, 1)] }
            if !r.falsePositives.isEmpty {
                o["false_positives"] = r.falsePositives.sorted { $0.user < $1.user }.map { ["user": $0.user, "rule": $0.rule, "summary": $0.summary] }
            }
            return o
        }
        let data = try JSONSerialization.data(withJSONObject: out, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }

    func printTable(_ ordered: [Row], _ score: Score, messages: Int, unlabelled: Int) {
        func pct(_ a: Int, _ b: Int) -> String { String(format: "%5.1f%%", 100 * ratio(a, b)) }
        print("alerts: \(messages) messages; a user counts as alerted at severity >= \(minSeverity)")
        print("persona       kind   users  alerted   rate    own rule  by design  rules that fired (users)")
        for r in ordered {
            let rules = r.rules.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            let name = r.persona.padding(toLength: 13, withPad: " ", startingAt: 0)
            let kind = (r.gaming ? "gaming" : "legit ")
            let own = r.rule == nil ? "        -" : String(format: "%9@", pct(r.ownRule, r.users))
            let design = r.rule == nil ? "         -" : String(format: "%10@", pct(r.byDesign, r.users))
            print(String(format: "%@ %@ %6d %8d %@ %@ %@  %@", name, kind, r.users, r.caught, pct(r.caught, r.users), own, design,
                         rules.joined(separator: ", ")))
        }
        print(String(format: "gaming users %d: caught %d, missed %d -> recall %.4f", score.tp + score.fn, score.tp, score.fn, score.recall))
        print(String(format: "legitimate users %d: alerted %d -> false-positive rate %.4f (with any alert, info included: %d)",
                     score.fp + score.tn, score.fp, score.falsePositiveRate, score.legitAny))
        print(String(format: "precision %.4f (per user)", score.precision))
        print(String(format: "by design (a gaming user also counts when its own rule fired at its configured severity): recall %.4f, precision %.4f",
                     score.recallDesign, score.precisionDesign))
        if unlabelled > 0 { print("alerted users missing from the labels: \(unlabelled)") }
    }

    /// Time to detect per gaming persona, and the false positives per legitimate persona with their summaries.
    func printDetails(_ ordered: [Row]) {
        print("time to detect (event time from the first gaming event to the first counting alert), hours:")
        print("persona            caught  median     p90     max")
        for r in ordered where r.gaming && !r.detectMs.isEmpty {
            let ttd = r.detectMs.sorted()
            print(String(format: "%@ %6d %7.1f %7.1f %7.1f", r.persona.padding(toLength: 17, withPad: " ", startingAt: 0), ttd.count,
                         Self.hours(ttd, 0.5), Self.hours(ttd, 0.9), Self.hours(ttd, 1)))
        }
        for r in ordered where !r.gaming && !r.falsePositives.isEmpty {
            print("false positives, \(r.persona) (\(r.falsePositives.count)):")
            for f in r.falsePositives.sorted(by: { $0.user < $1.user }).prefix(8) { print("  [\(f.rule)] \(f.summary)") }
        }
    }
}

/// a / b, or 0 when b is 0.
private func ratio(_ a: Int, _ b: Int) -> Double { b == 0 ? 0 : Double(a) / Double(b) }
