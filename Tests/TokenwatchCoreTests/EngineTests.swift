import Foundation
import Testing
@testable import TokenwatchCore

/// A generated input event, for tests.
struct TestEvent {
    var id: String
    var ts: Int64
    var user: String
    var team: String
    var input: Int64
    var output: Int64
    var accepted = false
    var commits: Int64 = 0
    var source: String? = nil

    var json: String {
        var s = #"{"event_id":"\#(id)","ts":\#(ts),"user_id":"\#(user)","team":"\#(team)","input_tokens":\#(input),"output_tokens":\#(output)"#
        if let source { s += #","source":"\#(source)""# }
        s += #","outcome":{"accepted":\#(accepted),"commits":\#(commits)}}"#
        return s
    }
}

extension Engine {
    @discardableResult
    mutating func feed(_ e: TestEvent, partition: Int32, offset: Int64) -> ProcessResult {
        var bytes = Array(e.json.utf8)
        return bytes.withUnsafeMutableBytes { process(UnsafeRawBufferPointer($0), partition: partition, offset: offset) }
    }
}

/// A parsed leaderboard message.
struct Board {
    var asOf: Int64, window: String, start: Int64, end: Int64, scope: String
    var entries: [(rank: Int, user: String, team: String, tokens: Int64, events: Int64, outcomes: Int64)]
    var active: Int, known: Int

    init(_ record: OutputRecord) throws {
        let o = try #require(try JSONSerialization.jsonObject(with: Data(record.value)) as? [String: Any])
        #expect(o["schema"] as? String == "tokenwatch.leaderboard.v1")
        asOf = (o["as_of"] as! NSNumber).int64Value
        window = o["window"] as! String
        start = (o["window_start"] as! NSNumber).int64Value
        end = (o["window_end"] as! NSNumber).int64Value
        scope = o["scope"] as! String
        entries = (o["entries"] as! [[String: Any]]).map {
            (($0["rank"] as! NSNumber).intValue, $0["user_id"] as! String, $0["team"] as! String,
             ($0["tokens"] as! NSNumber).int64Value, ($0["events"] as! NSNumber).int64Value, ($0["outcomes"] as! NSNumber).int64Value)
        }
        let a = o["adoption"] as! [String: Any]
        active = (a["active_users"] as! NSNumber).intValue
        known = (a["known_users"] as! NSNumber).intValue
        #expect(String(decoding: record.key ?? [], as: UTF8.self) == "\(window)|\(scope)")
    }
}

@Suite("Engine")
struct EngineTests {
    static let t0: Int64 = 1_795_555_200_000  // a Monday 00:00 UTC? any round hour will do

    static func config(rankBy: RankBy = .tokens, topK: Int = 5) -> EngineConfiguration {
        var c = EngineConfiguration()
        c.windows = [
            WindowSpec(name: "10m", lengthMs: 600_000, stepMs: 60_000),
            WindowSpec(name: "1h", lengthMs: 3_600_000, stepMs: 300_000),
        ]
        c.snapshotIntervalMs = 60_000
        c.allowedLatenessMs = 300_000
        c.topK = topK
        c.maxFutureSkewMs = 86_400_000
        c.rankBy = rankBy
        c.serviceAccountPatterns = ["svc-*", "*-bot"]
        return c
    }

    /// Random per-partition streams: bursts, duplicates, disorder within allowed lateness.
    static func streams(seed: UInt64, partitions: Int, users: Int, events: Int) -> [[TestEvent]] {
        var rng = SplitMix64(seed: seed)
        let teams = ["alpha", "beta", "gamma", "delta"]
        var out = Array(repeating: [TestEvent](), count: partitions)
        var base = Array(repeating: t0, count: partitions)
        var n = 0
        for _ in 0..<events {
            let u = Int(rng.next() % UInt64(users))
            let p = u % partitions
            base[p] += Int64(rng.next() % 20_000)
            if rng.next() % 50 == 0 { base[p] += Int64(rng.next() % 900_000) }  // quiet gaps
            let burst = rng.next() % 20 == 0 ? Int(rng.next() % 30) : 1
            for _ in 0..<burst {
                if !out[p].isEmpty && rng.next() % 20 == 0 {
                    // Re-send a recent event unchanged: a duplicate.
                    let back = Int(rng.next() % UInt64(min(out[p].count, 50)))
                    out[p].append(out[p][out[p].count - 1 - back])
                    continue
                }
                n += 1
                let jitter = Int64(rng.next() % 240_000)  // < allowed lateness
                let e = TestEvent(id: "ev-\(n)", ts: base[p] - jitter, user: "user\(u)", team: teams[u % teams.count],
                                  input: Int64(rng.next() % 5000), output: Int64(rng.next() % 2000),
                                  accepted: rng.next() % 3 == 0, commits: Int64(rng.next() % 2))
                out[p].append(e)
            }
        }
        return out
    }

    /// Runs streams through an engine in a random interleaving; returns the outputs.
    /// Feeds `streams` (one per partition) in a random interleaving of runs of 1–40 events, emitting
    /// snapshots after each run; `afterStep(engine, step, next)` may replace the engine (checkpoint and
    /// restore) between runs, `next` being each partition's next offset.
    static func run(_ streams: [[TestEvent]], config: EngineConfiguration, interleaveSeed: UInt64) -> (Engine, [OutputRecord]) {
        run(streams, config: config, interleaveSeed: interleaveSeed) { _, _, _ in }
    }

    static func run(_ streams: [[TestEvent]], config: EngineConfiguration, interleaveSeed: UInt64,
                    afterStep: (inout Engine, _ step: Int, _ next: [Int]) throws -> Void) rethrows -> (Engine, [OutputRecord]) {
        var engine = Engine(configuration: config)
        engine.assign(partitions: streams.indices.map(Int32.init))
        var rng = SplitMix64(seed: interleaveSeed)
        var next = Array(repeating: 0, count: streams.count)
        var outputs: [OutputRecord] = []
        var steps = 0
        while true {
            let open = streams.indices.filter { next[$0] < streams[$0].count }
            if open.isEmpty { break }
            let p = open[Int(rng.next() % UInt64(open.count))]
            let take = Int(rng.next() % 40) + 1
            for _ in 0..<take where next[p] < streams[p].count {
                engine.feed(streams[p][next[p]], partition: Int32(p), offset: Int64(next[p]))
                next[p] += 1
            }
            engine.emitDueSnapshots()
            outputs += engine.takeOutputs()
            steps += 1
            try afterStep(&engine, steps, next)
        }
        return (engine, outputs)
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func snapshotsEqualBruteForce(seed: UInt64) throws {
        for rankBy in [RankBy.tokens, .outcomes] {
            let config = Self.config(rankBy: rankBy)
            let streams = Self.streams(seed: seed, partitions: 3, users: 40, events: 3000)
            let (engine, outputs) = Self.run(streams, config: config, interleaveSeed: seed &* 7)
            // Ground truth: the first occurrence of each event id counts once.
            var seen = Set<String>()
            var truth: [TestEvent] = []
            for e in streams.flatMap({ $0 }) where seen.insert(e.id).inserted { truth.append(e) }
            let duplicates = streams.reduce(0) { $0 + $1.count } - truth.count
            #expect(engine.counters.duplicates == duplicates)
            #expect(engine.counters.counted == truth.count)
            #expect(engine.counters.deadLetterTotal == 0)

            let boards = try outputs.filter { $0.kind == .leaderboard }.map(Board.init)
            #expect(boards.count > 100)
            for b in boards {
                let spec = try #require(config.windows.first { $0.name == b.window })
                #expect(b.asOf % config.snapshotIntervalMs == 0)
                #expect(b.end == floorDiv(b.asOf, spec.stepMs) * spec.stepMs)
                #expect(b.end - b.start == spec.lengthMs)
                var sums: [String: (tokens: Int64, events: Int64, outcomes: Int64, team: String)] = [:]
                for e in truth where e.ts >= b.start && e.ts < b.end && (b.scope == "global" || b.scope == "team:\(e.team)") {
                    var s = sums[e.user] ?? (0, 0, 0, e.team)
                    s.tokens += e.input + e.output
                    s.events += 1
                    s.outcomes += (e.accepted ? 1 : 0) + e.commits
                    sums[e.user] = s
                }
                let value: ((tokens: Int64, events: Int64, outcomes: Int64, team: String)) -> Int64 = rankBy == .tokens ? { $0.tokens } : { $0.outcomes }
                let expected = sums.sorted { a, b in
                    value(a.value) != value(b.value) ? value(a.value) > value(b.value) : Array(a.key.utf8).lexicographicallyPrecedes(Array(b.key.utf8))
                }.prefix(config.topK)
                #expect(b.entries.count == expected.count, "\(b.window) \(b.scope) at \(b.asOf)")
                for (got, want) in zip(b.entries, expected) {
                    #expect(got.user == want.key, "\(b.window) \(b.scope) at \(b.asOf) rank \(got.rank)")
                    #expect(got.tokens == want.value.tokens)
                    #expect(got.events == want.value.events)
                    #expect(got.outcomes == want.value.outcomes)
                    #expect(got.team == want.value.team)
                }
                #expect(b.entries.map(\.rank) == Array(1...max(1, b.entries.count)).prefix(b.entries.count).map { $0 })
                #expect(b.active == sums.count)
                #expect(b.known >= b.active)
            }
        }
    }

    @Test func outputsDoNotDependOnInterleaving() {
        let streams = Self.streams(seed: 9, partitions: 4, users: 30, events: 2000)
        let (_, a) = Self.run(streams, config: Self.config(), interleaveSeed: 1)
        let (_, b) = Self.run(streams, config: Self.config(), interleaveSeed: 2)
        #expect(a.count > 0)
        let same = a == b
        #expect(same, "outputs differ between interleavings")
    }

    @Test func checkpointRestoreContinuesExactly() throws {
        let streams = Self.streams(seed: 5, partitions: 3, users: 30, events: 2000)
        let (_, uninterrupted) = Self.run(streams, config: Self.config(), interleaveSeed: 3)
        // Same interleaving, but stop halfway, checkpoint, restore and re-deliver from an older offset.
        let (_, outputs) = try Self.run(streams, config: Self.config(), interleaveSeed: 3) { engine, step, next in
            guard step == 40 else { return }
            let bytes = engine.checkpoint()
            engine = try Engine(configuration: Self.config(), restoring: bytes)
            #expect(engine.checkpoint() == bytes)
            // At-least-once delivery repeats a few messages; the restored engine skips them.
            for p in 0..<3 where next[p] > 0 {
                let r = engine.feed(streams[p][next[p] - 1], partition: Int32(p), offset: Int64(next[p] - 1))
                #expect(r == .alreadyProcessed)
            }
        }
        #expect(outputs.count == uninterrupted.count)
        let same = outputs == uninterrupted
        #expect(same, "outputs differ after checkpoint and restore")
    }

    @Test func checkpointRejectsOtherWindows() {
        let engine = Engine(configuration: Self.config())
        var other = Self.config()
        other.windows = [WindowSpec(name: "2h", lengthMs: 7_200_000, stepMs: 60_000)]
        #expect(throws: CheckpointError.self) { try Engine(configuration: other, restoring: engine.checkpoint()) }
        #expect(throws: CheckpointError.notACheckpoint) { try Engine(configuration: other, restoring: [1, 2, 3]) }
        var truncated = engine.checkpoint()
        truncated.removeLast(3)
        #expect(throws: CheckpointError.corrupt) { try Engine(configuration: Self.config(), restoring: truncated) }
    }

    @Test func watermarkWaitsForEveryPartition() {
        var engine = Engine(configuration: Self.config())
        engine.assign(partitions: [0, 1])
        engine.feed(TestEvent(id: "a", ts: Self.t0, user: "u0", team: "t", input: 1, output: 1), partition: 0, offset: 0)
        engine.feed(TestEvent(id: "b", ts: Self.t0 + 3_600_000, user: "u0", team: "t", input: 1, output: 1), partition: 0, offset: 1)
        #expect(engine.emitDueSnapshots() == 0)  // partition 1 has said nothing yet
        #expect(engine.emitDueSnapshots(idle: [1]) == 55)  // idle partitions stop holding it back
        engine.feed(TestEvent(id: "c", ts: Self.t0 + 3_600_000, user: "u1", team: "t", input: 1, output: 1), partition: 1, offset: 0)
        #expect(engine.emitDueSnapshots() == 0)
    }

    @Test func lateEventsCountWhereTheyStillCanOrAreDeadLettered() throws {
        var engine = Engine(configuration: Self.config())
        engine.assign(partitions: [0])
        let t = Self.t0
        engine.feed(TestEvent(id: "a", ts: t, user: "u", team: "t", input: 10, output: 0), partition: 0, offset: 0)
        engine.feed(TestEvent(id: "b", ts: t + 1_800_000, user: "u", team: "t", input: 20, output: 0), partition: 0, offset: 1)
        engine.emitDueSnapshots()
        _ = engine.takeOutputs()
        // 20 minutes behind the partition's newest event: beyond allowed lateness (5m),
        // too old for the 10m window but still inside the 1h window.
        let r1 = engine.feed(TestEvent(id: "c", ts: t + 600_000, user: "u", team: "t", input: 5, output: 0), partition: 0, offset: 2)
        #expect(r1 == .counted)
        // Two hours behind: no window can take it any more.
        let r2 = engine.feed(TestEvent(id: "d", ts: t - 3_600_000, user: "u", team: "t", input: 7, output: 0), partition: 0, offset: 3)
        #expect(r2 == .deadLetter(.late))
        let dead = engine.takeOutputs().filter { $0.kind == .deadLetter }
        #expect(dead.count == 1)
        let o = try #require(try JSONSerialization.jsonObject(with: Data(dead[0].value)) as? [String: Any])
        #expect(o["reason"] as? String == "late")
        #expect((o["offset"] as? NSNumber)?.intValue == 3)
        engine.feed(TestEvent(id: "e", ts: t + 2 * 3_600_000, user: "u", team: "t", input: 1, output: 0), partition: 0, offset: 4)
        engine.emitDueSnapshots()
        let boards = try engine.takeOutputs().filter { $0.kind == .leaderboard }.map(Board.init)
        let hour = try #require(boards.first { $0.window == "1h" && $0.scope == "global" && $0.end == t + 3_600_000 })
        #expect(hour.entries.first?.tokens == Int64(35))
        let tenMinutes = try #require(boards.first { $0.window == "10m" && $0.scope == "global" && $0.end == t + 1_860_000 })
        #expect(tenMinutes.entries.first?.tokens == 20)
    }

    @Test func serviceAccountsStayOffPeopleBoards() throws {
        var engine = Engine(configuration: Self.config())
        engine.assign(partitions: [0])
        let t = Self.t0
        #expect(engine.feed(TestEvent(id: "1", ts: t, user: "svc-build", team: "t", input: 1000, output: 0), partition: 0, offset: 0) == .service)
        #expect(engine.feed(TestEvent(id: "2", ts: t, user: "deploy-bot", team: "t", input: 1000, output: 0), partition: 0, offset: 1) == .service)
        #expect(engine.feed(TestEvent(id: "3", ts: t, user: "ann", team: "t", input: 1000, output: 0, source: "ci"), partition: 0, offset: 2) == .service)
        #expect(engine.feed(TestEvent(id: "4", ts: t, user: "ann", team: "t", input: 3, output: 0), partition: 0, offset: 3) == .counted)
        engine.feed(TestEvent(id: "5", ts: t + 2 * 3_600_000, user: "ann", team: "t", input: 1, output: 0), partition: 0, offset: 4)
        engine.emitDueSnapshots()
        let boards = try engine.takeOutputs().filter { $0.kind == .leaderboard }.map(Board.init)
        let b = try #require(boards.first { $0.window == "1h" && $0.scope == "global" && $0.end == t + 3_600_000 })
        #expect(b.entries.map(\.user) == ["ann"])
        #expect(b.entries.first?.tokens == 3)
    }

    @Test func restartSkipsOffsetsAlreadyCounted() {
        var engine = Engine(configuration: Self.config())
        engine.assign(partitions: [0])
        let e = TestEvent(id: "x", ts: Self.t0, user: "u", team: "t", input: 1, output: 1)
        #expect(engine.feed(e, partition: 0, offset: 10) == .counted)
        #expect(engine.feed(TestEvent(id: "y", ts: Self.t0, user: "u", team: "t", input: 1, output: 1), partition: 0, offset: 10) == .alreadyProcessed)
        #expect(engine.positions[0] == 11)
    }

    @Test func futureEventsAreRejectedAgainstTheMessageTimestamp() {
        var engine = Engine(configuration: Self.config())
        let produced = Self.t0
        func feed(_ id: String, _ ts: Int64, _ offset: Int64, reference: Int64?) -> ProcessResult {
            var bytes = Array(TestEvent(id: id, ts: ts, user: "u", team: "t", input: 1, output: 1).json.utf8)
            return bytes.withUnsafeMutableBytes { engine.process(UnsafeRawBufferPointer($0), partition: 0, offset: offset, referenceTimeMs: reference) }
        }
        #expect(feed("a", produced, 0, reference: produced) == .counted)
        // 25 h after the last event but produced then: a quiet night is not the future.
        #expect(feed("b", produced + 25 * 3_600_000, 1, reference: produced + 25 * 3_600_000) == .counted)
        // More than max_future_skew (here 24 h) ahead of when it was produced.
        #expect(feed("c", produced + 50 * 3_600_000, 2, reference: produced + 25 * 3_600_000) == .deadLetter(.futureTimestamp))
        #expect(engine.counters.deadLetters["future_timestamp"] == 1)
        // Without a message timestamp (a file replay) there is no reference to measure against.
        #expect(feed("d", produced + 49 * 3_600_000, 3, reference: nil) == .counted)
        // ...except an absurd jump, which would move every watermark and window years ahead.
        #expect(feed("e", produced + 49 * 3_600_000 + 31 * 86_400_000, 4, reference: nil) == .deadLetter(.futureTimestamp))
    }
}

@Suite("Building blocks")
struct BuildingBlockTests {
    @Test func eventIdFilterForgetsAfterTheHorizon() {
        var f = EventIdFilter(horizonMs: 3_600_000, maxIds: 1000)
        f.insert(42, ts: 0)
        #expect(f.contains(42))
        f.expire(newestTs: 3_600_000)
        #expect(f.contains(42))  // still within the horizon's bucket
        f.expire(newestTs: 2 * 3_600_000)
        #expect(!f.contains(42))
    }

    @Test func eventIdFilterStaysBounded() {
        var f = EventIdFilter(horizonMs: 86_400_000, maxIds: 1000)
        for i in 0..<10_000 { f.insert(UInt64(i + 1), ts: Int64(i) * 10_000) }
        #expect(f.count <= 1000)
        #expect(f.forgottenEarly > 0)
        #expect(f.contains(10_000))
    }

    @Test func globPatterns() {
        #expect(GlobPattern("svc-*").matches("svc-build"))
        #expect(!GlobPattern("svc-*").matches("mysvc-build"))
        #expect(GlobPattern("*-bot").matches("deploy-bot"))
        #expect(GlobPattern("a*b*c").matches("aXXbYYc"))
        #expect(!GlobPattern("a*b*c").matches("aXXbYY"))
        #expect(GlobPattern("exact").matches("exact"))
    }

    @Test func durations() {
        #expect(DurationText.parse("30s") == 30_000)
        #expect(DurationText.parse("1h30m") == 5_400_000)
        #expect(DurationText.parse("7d") == 604_800_000)
        #expect(DurationText.parse("250ms") == 250)
        #expect(DurationText.parse("5x") == nil)
        #expect(DurationText.parse("") == nil)
        #expect(DurationText.format(ms: 5_400_000) == "1h30m")
    }

    @Test func decimalsAreDeterministic() {
        #expect(JSONWriter.formatDecimal(0.812, decimals: 4) == "0.812")
        #expect(JSONWriter.formatDecimal(1, decimals: 4) == "1")
        #expect(JSONWriter.formatDecimal(0, decimals: 4) == "0")
        #expect(JSONWriter.formatDecimal(2.0 / 3.0, decimals: 4) == "0.6667")
    }

    @Test func topKKeepsTheBestWithNameTieBreak() {
        var interner = Interner()
        let ids = ["carol", "alice", "bob", "dave"].map { interner.intern($0) }
        var top = TopK(k: 3)
        for (i, id) in ids.enumerated() { top.offer(([10, 10, 5, 10][i], id), interner.less) }
        #expect(top.sorted(interner.less).map { interner.string($0.user) } == ["alice", "carol", "dave"])
    }
}

@Suite("Late events")
struct LateEventTests {
    /// Streams whose events are sometimes far behind their partition's newest event time.
    static func streams(seed: UInt64) -> [[TestEvent]] {
        var rng = SplitMix64(seed: seed)
        var out = Array(repeating: [TestEvent](), count: 3)
        var base = Array(repeating: EngineTests.t0, count: 3)
        for n in 0..<2500 {
            let u = Int(rng.next() % 24)
            let p = u % 3
            base[p] += Int64(rng.next() % 15_000)
            var ts = base[p] - Int64(rng.next() % 200_000)
            if rng.next() % 12 == 0 { ts = base[p] - Int64(rng.next() % 5_400_000) }  // up to 90 min late
            let e = TestEvent(id: "e\(n)", ts: ts, user: "u\(u)", team: ["a", "b"][u % 2], input: Int64(rng.next() % 900), output: 1)
            out[p].append(e)
            if rng.next() % 25 == 0 { out[p].append(e) }  // duplicate
        }
        return out
    }

    @Test(arguments: [UInt64(11), 12, 13])
    func everyLateEventIsCountedWhereItCanOrDeadLettered(seed: UInt64) throws {
        let config = EngineTests.config()
        let streams = Self.streams(seed: seed)
        let (engine, outputs) = EngineTests.run(streams, config: config, interleaveSeed: seed)
        // The model: per partition, an event older than (newest − lateness) counts only in snapshots
        // after that watermark, if some window can still hold it then; otherwise it is dead-lettered.
        struct Accepted { var e: TestEvent; var releaseAt: Int64? }
        var accepted: [Accepted] = []
        var lateDead = 0
        for stream in streams {
            var newest = Int64.min
            var ids = Set<String>()
            for e in stream {
                if ids.contains(e.id) { continue }
                if newest != .min && e.ts < newest - config.allowedLatenessMs {
                    let release = newest - config.allowedLatenessMs
                    let next = (floorDiv(release, config.snapshotIntervalMs) + 1) * config.snapshotIntervalMs
                    if config.windows.contains(where: { e.ts >= $0.end(asOf: next) - $0.lengthMs }) {
                        accepted.append(Accepted(e: e, releaseAt: release))
                        ids.insert(e.id)
                    } else {
                        lateDead += 1
                    }
                } else {
                    accepted.append(Accepted(e: e, releaseAt: nil))
                    ids.insert(e.id)
                    newest = max(newest, e.ts)
                }
            }
        }
        #expect(lateDead > 0)
        #expect(accepted.contains { $0.releaseAt != nil })
        #expect(engine.counters.deadLetters["late"] == lateDead)
        #expect(engine.counters.counted == accepted.count)
        let deadLetters = outputs.filter { $0.kind == .deadLetter }
        #expect(deadLetters.count == lateDead)

        let boards = try outputs.filter { $0.kind == .leaderboard }.map(Board.init)
        #expect(boards.count > 50)
        for b in boards where b.scope == "global" {
            var sums: [String: (tokens: Int64, events: Int64)] = [:]
            for a in accepted where a.e.ts >= b.start && a.e.ts < b.end && (a.releaseAt.map { b.asOf > $0 } ?? true) {
                var s = sums[a.e.user] ?? (0, 0)
                s.tokens += a.e.input + a.e.output
                s.events += 1
                sums[a.e.user] = s
            }
            let expected = sums.sorted { $0.value.tokens != $1.value.tokens ? $0.value.tokens > $1.value.tokens : $0.key < $1.key }.prefix(config.topK)
            #expect(b.entries.map(\.user) == expected.map(\.key), "\(b.window) at \(b.asOf)")
            #expect(b.entries.map(\.tokens) == expected.map(\.value.tokens), "\(b.window) at \(b.asOf)")
            #expect(b.entries.map(\.events) == expected.map(\.value.events), "\(b.window) at \(b.asOf)")
        }
        // And the same boards in another interleaving (dead letters of different partitions may interleave differently).
        let (_, again) = EngineTests.run(streams, config: config, interleaveSeed: seed &+ 99)
        let boardsAgain = again.filter { $0.kind == .leaderboard }
        let boardsFirst = outputs.filter { $0.kind == .leaderboard }
        #expect(boardsAgain.count == boardsFirst.count)
        let sameBoards = boardsAgain == boardsFirst
        #expect(sameBoards, "boards differ between interleavings")
        #expect(Set(again.filter { $0.kind == .deadLetter }.map(\.value)) == Set(deadLetters.map(\.value)))
    }
}
