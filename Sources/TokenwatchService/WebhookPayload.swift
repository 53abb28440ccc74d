import Foundation
import TokenwatchConfig
import TokenwatchCore

/// The fields of a published alert message that delivery needs, read once per alert.
struct AlertFacts: Sendable {
    var alertId: String
    var state: String
    var severity: String
    var rule: String
    var userId: String
    var team: String
    var summary: String
    var ts: Int64
    var score: Double
    /// The message as published (the `json` format posts it unchanged).
    var raw: [UInt8]

    /// Nil for bytes that are not an alert message (never expected from the engine).
    init?(_ json: [UInt8]) {
        guard let o = (try? JSONSerialization.jsonObject(with: Data(json))) as? [String: Any],
              let id = o["alert_id"] as? String, let state = o["state"] as? String else { return nil }
        alertId = id
        self.state = state
        severity = o["severity"] as? String ?? "warning"
        rule = o["rule"] as? String ?? "unknown"
        userId = o["user_id"] as? String ?? ""
        team = o["team"] as? String ?? ""
        summary = o["summary"] as? String ?? ""
        ts = (o["ts"] as? NSNumber)?.int64Value ?? 0
        score = (o["score"] as? NSNumber)?.doubleValue ?? 0
        raw = json
    }

    /// Whether `hook` wants this alert (severity at least its minimum, its rules and teams).
    func wanted(by hook: WebhookSettings) -> Bool {
        guard let s = Severity(rawValue: severity), s >= hook.minSeverity else { return false }
        if !hook.rules.isEmpty && !hook.rules.contains(rule) { return false }
        if !hook.teams.isEmpty && !hook.teams.contains(team) { return false }
        return true
    }
}

/// The body posted to a webhook, in its format.
enum WebhookPayload {
    static func body(_ a: AlertFacts, format: WebhookSettings.Format) -> [UInt8] {
        switch format {
        case .json: a.raw
        case .slack: slack(a)
        case .alertmanager: alertmanager(a)
        }
    }

    /// A Slack incoming-webhook message: one line of state, rule, person and team, then the summary.
    static func slack(_ a: AlertFacts) -> [UInt8] {
        let icon = a.state == "resolved" ? ":white_check_mark:" : a.severity == "critical" ? ":rotating_light:" : ":warning:"
        let text = "\(icon) *\(a.state.uppercased())* [\(a.severity)] `\(a.rule)`: \(a.userId) (team \(a.team))\n\(a.summary)"
        var w = JSONWriter()
        w.beginObject()
        w.key("text"); w.string(text)
        w.endObject()
        return w.bytes
    }

    /// Alertmanager's webhook payload (version 4) holding this one alert.
    static func alertmanager(_ a: AlertFacts) -> [UInt8] {
        var w = JSONWriter(capacity: 1024)
        w.beginObject()
        w.key("version"); w.string("4")
        w.key("groupKey"); w.string("tokenwatch:\(a.alertId)")
        w.key("truncatedAlerts"); w.int(0)
        w.key("status"); w.string(a.state)
        w.key("receiver"); w.string("tokenwatch")
        w.key("groupLabels"); labels(a, &w, only: true)
        w.key("commonLabels"); labels(a, &w)
        w.key("commonAnnotations"); annotations(a, &w)
        w.key("externalURL"); w.string("")
        w.key("alerts")
        w.beginArray()
        w.beginObject()
        w.key("status"); w.string(a.state)
        w.key("labels"); labels(a, &w)
        w.key("annotations"); annotations(a, &w)
        // Event time of the finding; a resolved message carries the time it resolved at.
        w.key("startsAt"); w.string(a.state == "resolved" ? "0001-01-01T00:00:00Z" : RFC3339.format(a.ts))
        w.key("endsAt"); w.string(a.state == "resolved" ? RFC3339.format(a.ts) : "0001-01-01T00:00:00Z")
        w.key("generatorURL"); w.string("")
        w.key("fingerprint"); w.string(a.alertId)
        w.endObject()
        w.endArray()
        w.endObject()
        return w.bytes
    }

    private static func labels(_ a: AlertFacts, _ w: inout JSONWriter, only alertname: Bool = false) {
        w.beginObject()
        w.key("alertname"); w.string(a.rule)
        if !alertname {
            w.key("rule"); w.string(a.rule)
            w.key("severity"); w.string(a.severity)
            w.key("user_id"); w.string(a.userId)
            w.key("team"); w.string(a.team)
            w.key("alert_id"); w.string(a.alertId)
        }
        w.endObject()
    }

    private static func annotations(_ a: AlertFacts, _ w: inout JSONWriter) {
        w.beginObject()
        w.key("summary"); w.string(a.summary)
        w.key("score"); w.string(String(a.score))
        w.endObject()
    }
}
