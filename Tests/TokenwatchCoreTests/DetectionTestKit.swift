import Foundation
import Testing
@testable import TokenwatchCore

/// A usage event with the fields the rules read, for the detection tests.
struct UsageEvent {
    var id: String
    var ts: Int64
    var user: String
    var team = "core"
    var input: Int64 = 1_500
    var output: Int64 = 500
    var accepted = false
    var commits: Int64 = 0
    var prompt: String? = nil
    var source: String? = nil
    /// Lines added (in the outcome).
    var lines: Int64 = 0
    /// False: the event carries no `outcome` at all (a tool that reports none).
    var reportsOutcome = true
    /// Raw JSON members appended to the event (optional telemetry, e.g. `"agent_active_ms":60000`).
    var extra = ""

    var json: String {
        var s = #"{"event_id":"\#(id)","ts":\#(ts),"user_id":"\#(user)","team":"\#(team)","input_tokens":\#(input),"output_tokens":\#(output)"#
        if let source { s += #","source":"\#(source)""# }
        if let prompt { s += #","prompt_hash":"\#(prompt)""# }
        if !extra.isEmpty { s += "," + extra }
        if !reportsOutcome { return s + "}" }
        s += #","outcome":{"accepted":\#(accepted),"commits":\#(commits)"#
        if lines > 0 { s += #","lines_added":\#(lines)"# }
        return s + "}}"
    }
}

/// A parsed `tokenwatch.alert.v1` message.
struct ParsedAlert: Equatable {
    var id: String, ts: Int64, user: String, team: String, rule: String, severity: String, state: String
    var score: Double, summary: String, evidence: [String: Double], key: String

    init(_ record: OutputRecord) throws {
        let o = try #require(try JSONSerialization.jsonObject(with: Data(record.value)) as? [String: Any])
        #expect(o["schema"] as? String == "tokenwatch.alert.v1")
        id = try #require(o["alert_id"] as? String)
        ts = try #require((o["ts"] as? NSNumber)?.int64Value)
        user = try #require(o["user_id"] as? String)
        team = try #require(o["team"] as? String)
        rule = try #require(o["rule"] as? String)
        severity = try #require(o["severity"] as? String)
        state = try #require(o["state"] as? String)
        score = try #require((o["score"] as? NSNumber)?.doubleValue)
        summary = try #require(o["summary"] as? String)
        let ev = try #require(o["evidence"] as? [String: Any])
        evidence = ev.compactMapValues { ($0 as? NSNumber)?.doubleValue }
        key = String(decoding: record.key ?? [], as: UTF8.self)
        #expect(o["emitted_at"] != nil)
        #expect(key == user)
    }
}

/// Drives an engine with per-partition offsets and collects what it emits.
struct DetectionHarness {
    /// Monday 2026-03-02 00:00 UTC: a weekly cutoff with the default `mon 00:00`.
    static let monday: Int64 = 4 * 86_400_000 + 2_930 * 604_800_000
    static let hour: Int64 = 3_600_000
    static let day: Int64 = 86_400_000

    var engine: Engine
    var offsets: [Int32: Int64] = [:]
    var outputs: [OutputRecord] = []
    var serial = 0
    /// Events scheduled but not yet fed, with their partition.
    var scheduled: [(event: UsageEvent, partition: Int32)] = []

    static func configuration(_ change: (inout DetectionConfiguration) -> Void = { _ in }) -> EngineConfiguration {
        var c = EngineConfiguration()
        c.windows = [
            WindowSpec(name: "1h", lengthMs: 3_600_000, stepMs: 60_000),
            WindowSpec(name: "24h", lengthMs: 86_400_000, stepMs: 900_000),
        ]
        c.maxFutureSkewMs = 30 * 86_400_000
        c.topK = 10
        change(&c.detection)
        return c
    }

    init(_ configuration: EngineConfiguration = DetectionHarness.configuration(), partitions: [Int32] = [0]) {
        engine = Engine(configuration: configuration)
        engine.assign(partitions: partitions)
    }

    mutating func feed(_ e: UsageEvent, partition: Int32 = 0) {
        var bytes = Array(e.json.utf8)
        let offset = offsets[partition, default: 0]
        offsets[partition] = offset + 1
        _ = bytes.withUnsafeMutableBytes { engine.process(UnsafeRawBufferPointer($0), partition: partition, offset: offset) }
    }

    /// Schedules an event; `play()` feeds everything scheduled in event-time order.
    mutating func schedule(_ e: UsageEvent, partition: Int32 = 0) {
        scheduled.append((e, partition))
    }

    /// Feeds the scheduled events in event-time order (stable), emitting snapshots as it goes.
    mutating func play() {
        let ordered = scheduled.enumerated().sorted { a, b in
            a.element.event.ts != b.element.event.ts ? a.element.event.ts < b.element.event.ts : a.offset < b.offset
        }
        scheduled = []
        for (n, item) in ordered.enumerated() {
            feed(item.element.event, partition: item.element.partition)
            if n % 64 == 0 { drain() }
        }
        drain()
    }

    /// A new event id.
    mutating func id() -> String {
        serial += 1
        return "e\(serial)"
    }

    /// Emits what is due, then lets event time run `advanceMs` past the newest event with every
    /// partition quiet (as a replay does at its end).
    mutating func flush(advanceMs: Int64 = 0) {
        engine.emitDueSnapshots()
        outputs += engine.takeOutputs()
        engine.emitDueSnapshots(idle: Set(offsets.keys), quietAdvanceMs: advanceMs)
        outputs += engine.takeOutputs()
    }

    mutating func drain() {
        engine.emitDueSnapshots()
        outputs += engine.takeOutputs()
    }

    func alerts() throws -> [ParsedAlert] { try outputs.filter { $0.kind == .alert }.map(ParsedAlert.init) }

    func alerts(rule: String) throws -> [ParsedAlert] { try alerts().filter { $0.rule == rule } }

    /// Entries (user → (suspicion, flags)) of the newest global board of `window`, with its adoption.
    func latestBoard(window: String) throws -> (entries: [String: (suspicion: Double, flags: [String], tokens: Int64, effective: Int64)], adoption: [String: Double]) {
        let record = try #require(outputs.last { $0.kind == .leaderboard && $0.key == Array("\(window)|global".utf8) })
        let o = try #require(try JSONSerialization.jsonObject(with: Data(record.value)) as? [String: Any])
        var entries: [String: (Double, [String], Int64, Int64)] = [:]
        for e in o["entries"] as! [[String: Any]] {
            entries[e["user_id"] as! String] = ((e["suspicion"] as! NSNumber).doubleValue, e["flags"] as! [String],
                                                (e["tokens"] as! NSNumber).int64Value, (e["effective_tokens"] as! NSNumber).int64Value)
        }
        let adoption = (o["adoption"] as! [String: Any]).mapValues { ($0 as! NSNumber).doubleValue }
        return (entries, adoption)
    }
}

/// The tests' deterministic generator: the project's one SplitMix.
typealias TestRandom = SplitMix

extension SplitMix {
    init(_ seed: UInt64) { self.init(seed: seed) }
    /// Exponentially distributed with the given mean.
    mutating func exponential(mean: Double) -> Double { -mean * log(1 - unit()) }
}

extension DetectionHarness {
    /// Schedules a person's workday: `requests` requests spread at random over `hours` hours from `start`,
    /// with `acceptRate` of them accepted and fresh prompts.
    mutating func workday(user: String, team: String = "core", start: Int64, hours: Double, requests: Int,
                          input: ClosedRange<Int64> = 800...2_400, acceptRate: Double = 0.4, rng: inout TestRandom,
                          partition: Int32 = 0) {
        var times = (0..<requests).map { _ in start + Int64(rng.unit() * hours * Double(Self.hour)) }
        times.sort()
        for t in times {
            let accepted = rng.unit() < acceptRate
            schedule(UsageEvent(id: id(), ts: t, user: user, team: team, input: rng.int(input), output: rng.int(200...700),
                                accepted: accepted, commits: accepted && rng.unit() < 0.1 ? 1 : 0,
                                prompt: "p\(rng.next() % 1_000_000_000)"), partition: partition)
        }
    }
}
