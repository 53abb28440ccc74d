import Foundation
import struct TokenwatchCore.SplitMix

// The test side of the end-to-end checks: deterministic input streams, and a brute-force
// computation of what every leaderboard must say, written from CONTRACT.md alone.

/// One usage event as the test produced it, with the exact bytes sent.
struct UsageEvent {
    var eventId: String
    var ts: Int64
    var userId: String
    var team: String?
    var input: Int64
    var output: Int64
    var source: String?
    var payload: [UInt8]
    var tokens: Int64 { input + output }
}

/// Deterministic test data: the project's one SplitMix.
typealias TestRandom = SplitMix

func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

/// `ms` as RFC 3339 at a UTC offset of `offsetMinutes`, with or without milliseconds.
func rfc3339(_ ms: Int64, offsetMinutes: Int = 0, fraction: Bool) -> String {
    let local = ms + Int64(offsetMinutes) * 60_000
    let days = floorDivide(local, 86_400_000)
    let inDay = local - days * 86_400_000
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468
    let era = floorDivide(z, 146_097)
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let day = doy - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
    func pad(_ v: Int64, _ n: Int) -> String {
        let s = String(v)
        return String(repeating: "0", count: max(0, n - s.count)) + s
    }
    var text = "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(inDay / 3_600_000, 2)):"
        + "\(pad(inDay / 60_000 % 60, 2)):\(pad(inDay / 1000 % 60, 2))"
    if fraction { text += "." + pad(inDay % 1000, 3) }
    if offsetMinutes == 0 {
        text += "Z"
    } else {
        let m = abs(offsetMinutes)
        text += (offsetMinutes > 0 ? "+" : "-") + pad(Int64(m / 60), 2) + ":" + pad(Int64(m % 60), 2)
    }
    return text
}

/// Builds the JSON of one event; `tsText` replaces the integer `ts` when given.
/// `userJSON`/`teamJSON` are the JSON text of the strings when it differs from the value (escapes).
func makeEvent(id: String, ts: Int64, user: String, team: String?, input: Int64, output: Int64,
               source: String? = nil, tsText: String? = nil, extra: String = "",
               userJSON: String? = nil, teamJSON: String? = nil) -> UsageEvent {
    var fields = ["\"event_id\":\"\(id)\""]
    fields.append(tsText.map { "\"ts\":\"\($0)\"" } ?? "\"ts\":\(ts)")
    fields.append("\"user_id\":\"\(userJSON ?? user)\"")
    if let team { fields.append("\"team\":\"\(teamJSON ?? team)\"") }
    if let source { fields.append("\"source\":\"\(source)\"") }
    fields.append("\"input_tokens\":\(input)")
    fields.append("\"output_tokens\":\(output)")
    if !extra.isEmpty { fields.append(extra) }
    let json = "{" + fields.joined(separator: ",") + "}"
    return UsageEvent(eventId: id, ts: ts, userId: user, team: team, input: input, output: output, source: source,
                      payload: Array(json.utf8))
}

/// A deterministic stream of valid events in production order, duplicates included as repeated elements.
///
/// Users of several teams (and some without a team), two groups of "twins" with identical usage so
/// that rank ties are common (`Zed`/`zed`, `kim`/`kim-a`/`kim2`: byte order decides), two service
/// accounts and some `source: ci` events that must stay off the boards, integer and RFC 3339 `ts`
/// (several UTC offsets), events exactly on minute boundaries, disorder of up to 4 minutes 1 second (under
/// the 5 minute allowed lateness), and re-sent events (same bytes, same event_id), some from far back.
func generateStream(seed: UInt64, start: Int64, count: Int) -> [UsageEvent] {
    var rng = TestRandom(seed: seed)
    let teams = ["payments", "infra", "ml", "web", "data"]
    struct Person { var id: String; var team: String?; var weight: Int; var twins: [String] = [] }
    var people: [Person] = []
    for i in 0..<30 {
        let id = i % 6 == 0 ? "Dev-\(i)" : "dev-\(i)"
        people.append(Person(id: id, team: i % 11 == 5 ? nil : teams[i % 5], weight: 1 + (i * 7) % 9))
    }
    people.append(Person(id: "zed", team: "ml", weight: 7, twins: ["Zed"]))
    people.append(Person(id: "kim2", team: "web", weight: 6, twins: ["kim", "kim-a"]))
    people.append(Person(id: "svc-build", team: "infra", weight: 3))
    people.append(Person(id: "deploy-bot", team: nil, weight: 2))
    let totalWeight = people.reduce(0) { $0 + $1.weight }

    var out: [UsageEvent] = []
    var cursor = start
    var n = 0
    while n < count {
        // Whole seconds (so some land exactly on window boundaries), a quarter with milliseconds.
        cursor += Int64(rng.below(8)) * 1000
        let ts = (rng.chance(0.5) ? cursor : cursor - Int64(rng.below(241)) * 1000) + (rng.chance(0.25) ? Int64(rng.below(1000)) : 0)
        var pick = rng.below(totalWeight)
        var person = people[0]
        for p in people {
            if pick < p.weight { person = p; break }
            pick -= p.weight
        }
        let input = rng.chance(0.03) ? 0 : Int64(rng.below(4000))
        let output = Int64(rng.below(1500))
        let source: String? = rng.chance(0.03) ? "ci" : (rng.chance(0.3) ? "interactive" : nil)
        var tsText: String?
        if rng.chance(0.12) {
            let offsets = [0, 120, -330, 345, -600]
            tsText = rfc3339(ts, offsetMinutes: offsets[rng.below(offsets.count)], fraction: ts % 1000 != 0 || rng.chance(0.5))
        }
        let extra = rng.chance(0.2) ? "\"tool\":\"ide-chat\",\"outcome\":{\"accepted\":true,\"lines_added\":3}" : ""
        for (k, id) in ([person.id] + person.twins).enumerated() {
            out.append(makeEvent(id: "e\(seed)-\(n)" + (k == 0 ? "" : "-\(k)"), ts: ts, user: id, team: person.team,
                                 input: input, output: output, source: source, tsText: tsText, extra: extra))
        }
        n += 1
        if rng.chance(0.04) {
            out.append(out[out.count - 1 - rng.below(min(out.count, 300))])
        } else if rng.chance(0.004) {
            out.append(out[rng.below(out.count / 2 + 1)])
        }
    }
    return out
}

func isServiceAccount(_ user: String) -> Bool { user.hasPrefix("svc-") || user.hasSuffix("-bot") }

/// `LENGTH@STEP`, e.g. `1h@1m`.
struct WindowDefinition {
    var name: String
    var lengthMs: Int64
    var stepMs: Int64

    init(_ spec: String) {
        let parts = spec.split(separator: "@").map(String.init)
        name = parts[0]
        lengthMs = Self.duration(parts[0])
        stepMs = Self.duration(parts[1])
    }

    static func duration(_ s: String) -> Int64 {
        let unit: Int64 = switch s.last! {
        case "s": 1000
        case "m": 60_000
        case "h": 3_600_000
        case "d": 86_400_000
        default: fatalError("unit of \(s)")
        }
        return Int64(s.dropLast())! * unit
    }

    func end(asOf: Int64) -> Int64 { floorDivide(asOf, stepMs) * stepMs }
}

/// One entry as the contract defines it (the fields the brute force can state exactly).
struct BoardEntry: Equatable, CustomStringConvertible {
    var rank: Int
    var userId: String
    var team: String
    var tokens: Int64
    var events: Int64
    var description: String { "#\(rank) \(userId) (\(team)) tokens=\(tokens) events=\(events)" }
}

/// One `tokenwatch.leaderboard.v1` message as read back from the topic.
struct PublishedBoard {
    var partition: Int32
    var offset: Int64
    var key: String
    var raw: String
    var object: [String: Any]
    var schema: String
    var asOf: Int64
    var window: String
    var windowStart: Int64
    var windowEnd: Int64
    var scope: String
    var rankBy: String
    var entries: [BoardEntry]
    var entryObjects: [[String: Any]]
    var activeUsers: Int
    var knownUsers: Int

    var id: String { "\(key)@\(asOf)" }

    init(_ r: TopicRecord) throws {
        partition = r.partition
        offset = r.offset
        key = r.key
        raw = r.value
        guard let o = try JSONSerialization.jsonObject(with: Data(r.value.utf8)) as? [String: Any] else {
            throw HarnessError("board at \(r.partition)/\(r.offset) is not a JSON object: \(r.value.prefix(200))")
        }
        object = o
        func int(_ v: Any?) -> Int64? { (v as? NSNumber)?.int64Value }
        guard let asOf = int(o["as_of"]), let start = int(o["window_start"]), let end = int(o["window_end"]),
              let window = o["window"] as? String, let scope = o["scope"] as? String,
              let list = o["entries"] as? [[String: Any]], let adoption = o["adoption"] as? [String: Any] else {
            throw HarnessError("board at \(r.partition)/\(r.offset) lacks a contract field: \(r.value.prefix(300))")
        }
        schema = o["schema"] as? String ?? ""
        rankBy = o["rank_by"] as? String ?? ""
        self.asOf = asOf
        self.window = window
        self.scope = scope
        windowStart = start
        windowEnd = end
        entryObjects = list
        entries = list.map {
            BoardEntry(rank: Int(int($0["rank"]) ?? -1), userId: $0["user_id"] as? String ?? "?", team: $0["team"] as? String ?? "?",
                       tokens: int($0["tokens"]) ?? -1, events: int($0["events"]) ?? -1)
        }
        activeUsers = Int(int(adoption["active_users"]) ?? -1)
        knownUsers = Int(int(adoption["known_users"]) ?? -1)
    }
}

/// The brute force: every board recomputed from the list of events the daemon must count.
struct BruteForce {
    let windows: [WindowDefinition]
    let topK: Int
    let snapshotIntervalMs: Int64
    /// Valid, first occurrence of each event_id, people only.
    let counted: [UsageEvent]
    let teamOf: [String: String]
    let firstSeen: [String: Int64]
    private var cache: [String: [String: (tokens: Int64, events: Int64)]] = [:]

    /// `produced`: every valid event produced, in any order, duplicates and service usage included.
    init(produced: [UsageEvent], windows: [String], topK: Int, snapshotIntervalMs: Int64) {
        self.windows = windows.map(WindowDefinition.init)
        self.topK = topK
        self.snapshotIntervalMs = snapshotIntervalMs
        var seen = Set<String>()
        var counted: [UsageEvent] = []
        var teams: [String: String] = [:]
        var first: [String: Int64] = [:]
        for e in produced where seen.insert(e.eventId).inserted {
            if isServiceAccount(e.userId) || e.source == "ci" { continue }
            counted.append(e)
            teams[e.userId] = e.team ?? "unassigned"
            first[e.userId] = min(first[e.userId] ?? .max, e.ts)
        }
        self.counted = counted
        teamOf = teams
        firstSeen = first
    }

    /// Per-user (tokens, events) over `start <= ts < end`.
    mutating func totals(start: Int64, end: Int64) -> [String: (tokens: Int64, events: Int64)] {
        let cacheKey = "\(start)-\(end)"
        if let hit = cache[cacheKey] { return hit }
        var t: [String: (tokens: Int64, events: Int64)] = [:]
        for e in counted where e.ts >= start && e.ts < end {
            t[e.userId, default: (0, 0)].tokens += e.tokens
            t[e.userId, default: (0, 0)].events += 1
        }
        cache[cacheKey] = t
        return t
    }

    /// The expected entries of one board and the number of active users in its scope.
    mutating func expected(window: WindowDefinition, asOf: Int64, scope: String) -> (entries: [BoardEntry], active: Int) {
        let end = window.end(asOf: asOf)
        let all = totals(start: end - window.lengthMs, end: end)
        let inScope = all.filter { scope == "global" || "team:" + (teamOf[$0.key] ?? "?") == scope }
        let ranked = inScope.sorted { a, b in
            if a.value.tokens != b.value.tokens { return a.value.tokens > b.value.tokens }
            return Array(a.key.utf8).lexicographicallyPrecedes(Array(b.key.utf8))
        }
        let entries = ranked.prefix(topK).enumerated().map { i, kv in
            BoardEntry(rank: i + 1, userId: kv.key, team: teamOf[kv.key]!, tokens: kv.value.tokens, events: kv.value.events)
        }
        return (entries, inScope.count)
    }

    /// The scopes that must have a board: global and every team with an active user in the window.
    mutating func requiredScopes(window: WindowDefinition, asOf: Int64) -> Set<String> {
        let end = window.end(asOf: asOf)
        let all = totals(start: end - window.lengthMs, end: end)
        return Set(["global"] + all.keys.map { "team:" + teamOf[$0]! })
    }

    /// Every check of the published boards against the brute force; returns the problems found.
    ///
    /// - `expectedLastAsOf`: the newest snapshot time the watermark allows.
    /// - `allowRepeats`: a (key, as_of) may appear more than once (then byte-identical), e.g. across a restart.
    mutating func verify(_ boards: [PublishedBoard], expectedLastAsOf: Int64, allowRepeats: Bool) -> [String] {
        var problems: [String] = []
        guard !boards.isEmpty else { return ["no boards at all"] }
        let byName = Dictionary(uniqueKeysWithValues: windows.map { ($0.name, $0) })
        var seen: [String: PublishedBoard] = [:]
        var present: [Int64: [String: Set<String>]] = [:]  // as_of → window → scopes
        var lastAsOfPerKey: [String: Int64] = [:]
        var latestPerKey: [String: PublishedBoard] = [:]
        var verified = Set<String>()
        for b in boards.sorted(by: { ($0.partition, $0.offset) < ($1.partition, $1.offset) }) {
            let at = "board \(b.id) (\(b.partition)/\(b.offset))"
            latestPerKey[b.key] = b
            if let earlier = seen[b.id] {
                if !allowRepeats { problems.append("\(at): emitted more than once") }
                if earlier.raw != b.raw { problems.append("\(at): repeated with different content:\n    \(earlier.raw)\n    \(b.raw)") }
                continue
            }
            // New boards of a key come in as_of order (a replay after a crash may repeat older ones first).
            if let previous = lastAsOfPerKey[b.key], b.asOf < previous {
                problems.append("\(at): as_of goes back in its partition (after \(previous))")
            }
            lastAsOfPerKey[b.key] = max(lastAsOfPerKey[b.key] ?? .min, b.asOf)
            seen[b.id] = b
            if b.schema != "tokenwatch.leaderboard.v1" { problems.append("\(at): schema \(b.schema)") }
            if b.key != "\(b.window)|\(b.scope)" { problems.append("\(at): key does not match window \(b.window) and scope \(b.scope)") }
            if b.rankBy != "tokens" { problems.append("\(at): rank_by \(b.rankBy)") }
            if floorDivide(b.asOf, snapshotIntervalMs) * snapshotIntervalMs != b.asOf {
                problems.append("\(at): as_of is not a multiple of the snapshot interval \(snapshotIntervalMs)")
            }
            guard let w = byName[b.window] else {
                problems.append("\(at): unknown window \(b.window)")
                continue
            }
            present[b.asOf, default: [:]][b.window, default: []].insert(b.scope)
            if b.windowEnd != w.end(asOf: b.asOf) { problems.append("\(at): window_end \(b.windowEnd), expected \(w.end(asOf: b.asOf))") }
            if b.windowStart != b.windowEnd - w.lengthMs { problems.append("\(at): window_start \(b.windowStart) != window_end - \(w.name)") }
            let want = expected(window: w, asOf: b.asOf, scope: b.scope)
            if b.entries != want.entries {
                problems.append("\(at): entries differ\n    got:      \(b.entries)\n    expected: \(want.entries)")
            }
            for (i, e) in b.entryObjects.enumerated() where (e["effective_tokens"] as? NSNumber) == nil || e["flags"] == nil || e["suspicion"] == nil {
                problems.append("\(at): entry \(i) lacks effective_tokens, suspicion or flags")
            }
            if b.activeUsers != want.active { problems.append("\(at): adoption.active_users \(b.activeUsers), expected \(want.active)") }
            let everSeen = teamOf.filter { (b.scope == "global" || "team:" + $0.value == b.scope) && firstSeen[$0.key]! < b.asOf }.count
            if b.knownUsers < b.activeUsers || b.knownUsers > everSeen {
                problems.append("\(at): adoption.known_users \(b.knownUsers) outside [active \(b.activeUsers), seen so far \(everSeen)]")
            }
            verified.insert(b.id)
        }
        // What a compacted topic keeps (the last message per key) must be the newest board of the key.
        for (key, b) in latestPerKey where b.asOf != lastAsOfPerKey[key] {
            problems.append("the last message of \(key) is as of \(b.asOf), but \(lastAsOfPerKey[key]!) was published: a compacted topic keeps a stale board")
        }
        // Every snapshot time from the first to the expected last, each with the boards it must have.
        let times = present.keys.sorted()
        if let last = times.last, last != expectedLastAsOf {
            problems.append("newest as_of is \(last) (\(rfc3339(last, fraction: false))), expected \(expectedLastAsOf) (\(rfc3339(expectedLastAsOf, fraction: false)))")
        }
        if let first = times.first, let firstEvent = counted.map(\.ts).min(), first > firstEvent + 10 * 60_000 {
            problems.append("first as_of \(first) is more than 10 minutes after the first event time \(firstEvent)")
        }
        if let first = times.first, let last = times.last {
            var t = first
            while t <= last {
                guard let perWindow = present[t] else {
                    problems.append("no boards for as_of \(t) (gap in the snapshot sequence)")
                    t += snapshotIntervalMs
                    continue
                }
                for w in windows {
                    let missing = requiredScopes(window: w, asOf: t).subtracting(perWindow[w.name] ?? [])
                    if !missing.isEmpty { problems.append("as_of \(t) window \(w.name): no board for \(missing.sorted())") }
                }
                t += snapshotIntervalMs
            }
        }
        return problems
    }
}

/// The newest snapshot time the daemon may emit: every partition's newest accepted event time
/// minus the allowed lateness, minimum over partitions, rounded down to the snapshot interval.
/// `accepted` maps a payload read back from the input topic to its event time when the engine accepts it.
func expectedLastAsOf(input: [TopicRecord], partitions: Int, allowedLatenessMs: Int64, snapshotIntervalMs: Int64,
                      accepted: (String) -> Int64?) throws -> Int64 {
    var newest: [Int32: Int64] = [:]
    for r in input {
        guard let ts = accepted(r.value) else { continue }
        newest[r.partition] = max(newest[r.partition] ?? .min, ts)
    }
    guard newest.count == partitions else {
        throw HarnessError("test data reached only partitions \(newest.keys.sorted()) of \(partitions); with a long idle timeout every partition needs events")
    }
    let watermark = newest.values.min()! - allowedLatenessMs
    return floorDivide(watermark, snapshotIntervalMs) * snapshotIntervalMs
}

/// Parses the boards read back from the leaderboard topic.
func parseBoards(_ records: [TopicRecord]) throws -> [PublishedBoard] { try records.map(PublishedBoard.init) }
