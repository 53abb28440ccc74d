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
    func alertRecord(_ a: OpenAlert, state: String, ts: Int64, users: Interner, teams: Interner) -> OutputRecord {
        let user = users.string(a.user)
        let team = teams.string(a.team)
        var evidence = JSONWriter(capacity: 256)
        let summary = describe(a, user: user, team: team, into: &evidence)
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
        if state == "firing" {
            w.key("summary"); w.string(summary)
        } else {
            w.key("summary")
            w.string("\(user): \(a.rule.rawValue) resolved, not seen since \(AlertText.utc(a.lastSeen)) (\(AlertText.duration(ms: ts - a.lastSeen)) quiet); it fired when " + summary)
        }
        w.key("evidence"); w.raw(evidence.bytes)
        w.key("episode_start"); w.int(a.episodeStart)
        if state != "firing" { w.key("last_seen"); w.int(a.lastSeen) }
        w.key("emitted_at"); w.int(ts)
        w.endObject()
        return OutputRecord(kind: .alert, key: Array(user.utf8), value: w.bytes)
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
