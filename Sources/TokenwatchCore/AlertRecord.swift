extension Detector {
    /// The deterministic id of an alert episode: a hash of rule, user and the event time the episode
    /// started, as 16 hex digits. The firing and the resolved message share it.
    public static func alertId(rule: String, user: String, episodeStart: Int64) -> String {
        var bytes = Array(rule.utf8)
        bytes.append(0x7C)
        bytes.append(contentsOf: user.utf8)
        bytes.append(0x7C)
        bytes.append(contentsOf: String(episodeStart).utf8)
        let h = bytes.withUnsafeBytes { ByteHash.hash($0, seed: 0xa1e7_1d5e) }
        let hex = Array("0123456789abcdef".utf8)
        var out = [UInt8](repeating: 0, count: 16)
        for i in 0..<16 { out[i] = hex[Int((h >> UInt64(60 - 4 * i)) & 15)] }
        return String(decoding: out, as: UTF8.self)
    }

    /// A `tokenwatch.alert.v1` message (CONTRACT.md §2), keyed by `user_id`.
    ///
    /// `emitted_at` is written as the event time `ts`: the core reads no clock, so replays are
    /// byte-identical. A live service that wants the wall clock there rewrites it with
    /// `OutputRecord.stampingEmittedAt(_:)` just before producing.
    func alertRecord(_ a: OpenAlert, state: String, ts: Int64, users: Interner, teams: Interner,
                     supersededBy next: OpenAlert? = nil) -> OutputRecord {
        let user = users.string(a.user)
        let team = teams.string(a.team)
        var evidence = JSONWriter(capacity: 256)
        let summary = describe(a, user: user, team: team, into: &evidence) + escalationText(a)
        Self.appendEscalation(a, to: &evidence)
        var w = JSONWriter(capacity: 512 + summary.utf8.count + evidence.bytes.count)
        w.beginObject()
        w.key("schema"); w.string("tokenwatch.alert.v1")
        w.key("alert_id"); w.string(Self.alertId(rule: a.rule.rawValue, user: user, episodeStart: a.episodeStart))
        w.key("ts"); w.int(ts)
        w.key("user_id"); w.string(user)
        w.key("team"); w.string(team)
        w.key("rule"); w.string(a.rule.rawValue)
        w.key("severity"); w.string(a.severity.rawValue)
        w.key("state"); w.string(state)
        w.key("score"); w.decimal(state == "firing" ? a.firedScore : a.score, decimals: 4)
        w.key("summary")
        if state == "firing" {
            w.string(summary)
        } else if let next {
            w.string("\(user): \(a.rule.rawValue) resolved at \(a.severity.rawValue) and raised at \(AlertText.utc(next.episodeStart))"
                     + escalationText(next) + "; it fired when " + summary)
        } else {
            w.string("\(user): \(a.rule.rawValue) resolved, not seen since \(AlertText.utc(a.lastSeen)) (\(AlertText.duration(ms: ts - a.lastSeen)) quiet); it fired when " + summary)
        }
        w.key("evidence"); w.raw(evidence.bytes)
        w.key("episode_start"); w.int(a.episodeStart)
        if state != "firing" { w.key("last_seen"); w.int(a.lastSeen) }
        if let next {
            w.key("superseded_by"); w.string(Self.alertId(rule: a.rule.rawValue, user: user, episodeStart: next.episodeStart))
        }
        w.key("emitted_at"); w.int(ts)
        w.endObject()
        return OutputRecord(kind: .alert, key: Array(user.utf8), value: w.bytes)
    }

    /// `" (warning → critical: fired on 3 days of the last 7)"` when the alert fired above its rule's
    /// severity, else empty: the summary still explains the alert in one line.
    func escalationText(_ a: OpenAlert) -> String {
        guard !a.escalation.isEmpty else { return "" }
        var why: [String] = []
        if a.escalation.contains(.score) { why.append("score \(AlertText.fixed(a.firedScore, 2))") }
        if a.escalation.contains(.persistence) { why.append(Self.periodsText(a.rule, periods: Int(a.periods))) }
        if a.escalation.contains(.unattended) {
            why.append("the agent ran \(AlertText.duration(ms: Int64(a.agentMs))) with \(AlertText.duration(ms: Int64(a.humanMs))) of a person at the keyboard")
        }
        return " (\(AlertSeverity.arrow(a.ruleSeverity, a.severity)): \(why.joined(separator: " and ")))"
    }

    /// `fired on 3 days of the last 7` (weeks for the weekly rules).
    static func periodsText(_ rule: RuleKind, periods: Int) -> String {
        let unit = rule == .leaderboardSprint || rule == .mandateMinimum ? "weeks" : "days"
        return "fired on \(periods) \(unit) of the last \(Escalation.span)"
    }

    /// Adds `"escalation": {"from", "to", "score", "periods"}` to the rule's evidence object when the alert
    /// fired above its rule's severity.
    static func appendEscalation(_ a: OpenAlert, to evidence: inout JSONWriter) {
        guard !a.escalation.isEmpty, evidence.bytes.last == UInt8(ascii: "}") else { return }
        evidence.bytes.removeLast()
        var e = JSONWriter(capacity: 96)
        e.beginObject()
        e.key("from"); e.string(a.ruleSeverity.rawValue)
        e.key("to"); e.string(a.severity.rawValue)
        e.key("by_score"); e.bool(a.escalation.contains(.score))
        e.key("by_persistence"); e.bool(a.escalation.contains(.persistence))
        e.key("periods_fired"); e.int(Int64(a.periods))
        e.key("periods_span"); e.int(Int64(Escalation.span))
        e.key("by_unattended"); e.bool(a.escalation.contains(.unattended))
        if a.agentMs > 0 || a.humanMs > 0 {
            e.key("human_active_ms"); e.int(Int64(a.humanMs))
            e.key("agent_active_ms"); e.int(Int64(a.agentMs))
        }
        e.endObject()
        if evidence.bytes.last != UInt8(ascii: "{") { evidence.bytes.append(UInt8(ascii: ",")) }
        evidence.bytes.append(contentsOf: Array("\"escalation\":".utf8))
        evidence.bytes.append(contentsOf: e.bytes)
        evidence.bytes.append(UInt8(ascii: "}"))
    }
}

extension OutputRecord {
    /// The same alert with `emitted_at` set to `wallClockMs` (live mode). Other records, or an alert
    /// without a trailing `emitted_at`, come back unchanged.
    public func stampingEmittedAt(_ wallClockMs: Int64) -> OutputRecord {
        guard kind == .alert else { return self }
        let marker = Array(",\"emitted_at\":".utf8)
        guard value.count > marker.count + 1, value.last == UInt8(ascii: "}") else { return self }
        // The field is written last: search backwards for it.
        var i = value.count - 2
        while i >= 0 && value[i] != UInt8(ascii: ",") { i -= 1 }
        guard i >= 0, Array(value[i..<min(value.count, i + marker.count)]) == marker else { return self }
        var copy = self
        copy.value = Array(value[..<i]) + marker + Array(String(wallClockMs).utf8) + [UInt8(ascii: "}")]
        return copy
    }
}
