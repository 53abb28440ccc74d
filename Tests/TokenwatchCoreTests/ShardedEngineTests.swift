import Testing
@testable import TokenwatchCore

/// What the tests drive: one engine, or one spread over shards.
protocol TestPipeline {
    mutating func assign(partitions ids: [Int32])
    mutating func process(_ payload: UnsafeRawBufferPointer, partition: Int32, offset: Int64, receivedAtMs: Int64,
                          referenceTimeMs: Int64?, checkingKey key: UnsafeRawBufferPointer?) -> ProcessResult
    mutating func emitDueSnapshots(idle: Set<Int32>, quietAdvanceMs: Int64) -> Int
    mutating func takeOutputs() -> [OutputRecord]
    /// Checkpoints and restores itself (a restart).
    mutating func restart() throws
}
extension Engine: TestPipeline {
    mutating func restart() throws { self = try Engine(configuration: configuration, restoring: checkpoint()) }
}
extension ShardedEngine: TestPipeline {
    mutating func restart() throws {
        self = try ShardedEngine(configuration: configuration, shards: shards.count, keyedPartitions: keyedPartitions,
                                 restoring: checkpoint())
    }
}

/// A sharded engine publishes exactly what one engine publishes: boards (entries, order, ties, adoption)
/// and alerts, byte for byte and in the same order, whatever the number of shards.
@Suite("Sharded engine")
struct ShardedEngineTests {
    typealias H = DetectionHarness
    static let partitions: Int32 = 6
    /// Five-minute snapshots keep the test quick; the rules' windows are the harness's.
    static var configuration: EngineConfiguration {
        var c = H.configuration()
        c.snapshotIntervalMs = 300_000
        return c
    }

    /// One message: the partition it is on, its event, and the key it was produced with (nil: keyed by user).
    struct Message { var partition: Int32; var event: UsageEvent; var key: String? }

    /// Two days of four teams with gamers the peer, weekly and per-event rules catch, keyed by user
    /// over `partitions` partitions the way the producer's partitioner keys them.
    static func population(seed: UInt64) -> [Message] {
        var h = DetectionHarness()
        var rng = TestRandom(seed)
        let teams = ["red", "blue", "green", "gold"]
        for day in 0..<2 {
            let base = H.monday - H.day + Int64(day) * H.day
            for u in 0..<28 {
                h.workday(user: "dev\(u)", team: teams[u % 4], start: base + (7 + Int64(u % 4)) * H.hour, hours: 8,
                          requests: 30 + Int(rng.next() % 40), rng: &rng)
            }
            // Heavy use without outcomes: peer_outlier and low_yield.
            for i in 0..<500 {
                h.schedule(UsageEvent(id: h.id(), ts: base + 9 * H.hour + Int64(i) * 50_000, user: "hoarder", team: "red",
                                      input: 9_000 + Int64(i % 13) * 100, output: 900, prompt: "h\(rng.next())"))
            }
            AlertLifecycleTests.beat(&h, user: "bot-like", from: base + 6 * H.hour, hours: 12, interval: 45_000)
            for i in 0..<150 {
                h.schedule(UsageEvent(id: h.id(), ts: base + 10 * H.hour + Int64(i) * 120_000, user: "looper", team: "blue",
                                      input: 9_000, output: 800, prompt: "loop-\(i % 4)"))
            }
        }
        // Trivially active before the cutoff: mandate_minimum.
        h.schedule(UsageEvent(id: h.id(), ts: H.monday - 3 * H.hour, user: "padder", team: "gold", input: 40, output: 10))
        return h.scheduled.sorted { $0.event.ts < $1.event.ts }.map { item in
            let p = Array(item.event.user.utf8).withUnsafeBytes { KeyPartitioner.partition(key: $0, partitions: partitions) }
            return Message(partition: p, event: item.event, key: nil)
        }
    }

    /// Feeds `messages` in per-partition order, partitions interleaved at random, snapshots as it goes.
    static func run<P: TestPipeline>(_ engine: inout P, _ messages: [Message], interleave: UInt64,
                                             restartEvery: Int? = nil) throws -> [OutputRecord] {
        var queues = Array(repeating: [Message](), count: Int(partitions))
        for m in messages { queues[Int(m.partition)].append(m) }
        engine.assign(partitions: Array(0..<partitions))
        var next = Array(repeating: 0, count: queues.count)
        var rng = TestRandom(interleave)
        var outputs: [OutputRecord] = []
        var steps = 0
        while true {
            let open = queues.indices.filter { next[$0] < queues[$0].count }
            if open.isEmpty { break }
            let p = open[Int(rng.next() % UInt64(open.count))]
            for _ in 0..<(Int(rng.next() % 300) + 1) where next[p] < queues[p].count {
                let m = queues[p][next[p]]
                let payload = Array(m.event.json.utf8)
                let key = Array((m.key ?? m.event.user).utf8)
                _ = payload.withUnsafeBytes { bytes in
                    key.withUnsafeBytes { k in
                        engine.process(bytes, partition: Int32(p), offset: Int64(next[p]), receivedAtMs: 0,
                                       referenceTimeMs: nil, checkingKey: k)
                    }
                }
                next[p] += 1
            }
            _ = engine.emitDueSnapshots(idle: [], quietAdvanceMs: 0)
            outputs += engine.takeOutputs()
            steps += 1
            if let every = restartEvery, steps % every == 0 { try engine.restart() }
        }
        _ = engine.emitDueSnapshots(idle: Set(0..<partitions), quietAdvanceMs: H.day)
        return outputs + engine.takeOutputs()
    }

    static func published(_ records: [OutputRecord]) -> [OutputRecord] {
        records.filter { $0.kind != .deadLetter }.map { r in
            var r = r
            r.order = nil
            return r
        }
    }

    /// The first record that differs, both versions, for the failure message.
    static func firstDifference(_ got: [OutputRecord], _ expected: [OutputRecord]) -> String? {
        guard let i = got.indices.first(where: { $0 >= expected.count || got[$0] != expected[$0] }) else { return nil }
        let other = i < expected.count ? String(decoding: expected[i].value, as: UTF8.self) : "nothing"
        return "record \(i): \(String(decoding: got[i].value, as: UTF8.self))\n  expected \(other)"
    }

    @Test func shardsPublishWhatOneEnginePublishes() throws {
        let messages = Self.population(seed: 7)
        var single = Engine(configuration: Self.configuration)
        let expected = Self.published(try Self.run(&single, messages, interleave: 1))
        let rules = Set(try expected.filter { $0.kind == .alert }.map { try ParsedAlert($0).rule })
        // The stream exercises the rules that compare users and the weekly ones, not only per-user ones.
        #expect(rules.isSuperset(of: ["peer_outlier", "low_yield", "machine_cadence", "duplicate_prompts", "mandate_minimum"]),
                "rules fired: \(rules.sorted())")
        #expect(expected.contains { $0.kind == .alert && String(decoding: $0.value, as: UTF8.self).contains("\"resolved\"") })
        for (shards, interleave, restartEvery): (Int, UInt64, Int?) in [(2, 2, nil), (3, 3, 7), (6, 4, nil)] {
            do {
                var sharded = ShardedEngine(configuration: Self.configuration, shards: shards, keyedPartitions: Self.partitions)
                let got = Self.published(try Self.run(&sharded, messages, interleave: interleave, restartEvery: restartEvery))
                #expect(got.count == expected.count, "shards \(shards)")
                let difference = Self.firstDifference(got, expected)
                #expect(difference == nil, "shards \(shards), interleave \(interleave): \(difference ?? "")")
            }
        }
    }

    /// Events produced without the user as key (null keys, round robin, each copy on another partition)
    /// count once, in the shard that owns the user, and the boards equal one engine's.
    /// Alerts handed over before their snapshot time's boards are built come in the same order, with the
    /// same bytes, as `takeOutputs()` gives them, and before those boards.
    @Test func alertsFirstKeepsTheOrder() throws {
        let messages = Self.population(seed: 8)
        var plain = ShardedEngine(configuration: Self.configuration, shards: 2, keyedPartitions: Self.partitions)
        let expected = try Self.run(&plain, messages, interleave: 5)
        var early = ShardedEngine(configuration: Self.configuration, shards: 2, keyedPartitions: Self.partitions)
        early.assign(partitions: Array(0..<Self.partitions))
        var got: [OutputRecord] = []
        var handedEarly = 0
        var offsets = Array(repeating: Int64(0), count: Int(Self.partitions))
        for m in messages {
            let key = Array(m.event.user.utf8)
            _ = Array(m.event.json.utf8).withUnsafeBytes { bytes in
                key.withUnsafeBytes { early.process(bytes, partition: m.partition, offset: offsets[Int(m.partition)], checkingKey: $0) }
            }
            offsets[Int(m.partition)] += 1
            early.emitDueSnapshots(idle: [], quietAdvanceMs: 0) { records in
                // A batch ends with one snapshot time's alerts; boards in it are of earlier times.
                let time = records.last { $0.kind == .alert }?.eventTime ?? .max
                #expect(!records.contains { $0.kind == .leaderboard && ($0.eventTime ?? .max) >= time }, "a board came with its alerts")
                handedEarly += records.filter { $0.kind == .alert }.count
                got += records
            }
            got += early.takeOutputs()
        }
        early.emitDueSnapshots(idle: Set(0..<Self.partitions), quietAdvanceMs: H.day) { records in
            handedEarly += records.filter { $0.kind == .alert }.count
            got += records
        }
        got += early.takeOutputs()
        #expect(handedEarly > 0)
        #expect(handedEarly == got.filter { $0.kind == .alert }.count)
        #expect(Self.firstDifference(Self.published(got), Self.published(expected)) == nil)
    }

    @Test func unkeyedEventsMeetTheirUsersShard() throws {
        let keyed = Self.population(seed: 11).filter { !$0.event.user.hasPrefix("bot") }
        var rng = TestRandom(5)
        var messages: [Message] = []
        for m in keyed {
            guard rng.next() % 3 == 0 else { messages.append(m); continue }
            // Unkeyed: one to three copies, each on a random partition.
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                messages.append(Message(partition: Int32(rng.next() % UInt64(Self.partitions)), event: m.event, key: ""))
            }
        }
        var single = Engine(configuration: Self.configuration)
        let expected = Self.published(try Self.run(&single, messages, interleave: 1)).filter { $0.kind == .leaderboard }
        var sharded = ShardedEngine(configuration: Self.configuration, shards: 3, keyedPartitions: Self.partitions)
        // The same interleaving: a user whose events come on several partitions is seen by the per-event
        // rules in arrival order, by one engine as by the shards.
        let got = Self.published(try Self.run(&sharded, messages, interleave: 1, restartEvery: 5)).filter { $0.kind == .leaderboard }
        #expect(messages.filter { $0.key == "" }.count > 1_000)
        #expect(sharded.counters.counted == keyed.count)
        #expect(sharded.counters.counted == single.counters.counted)
        #expect(got.count == expected.count)
        let difference = Self.firstDifference(got, expected)
        #expect(difference == nil, "\(difference ?? "")")
    }

    /// A checkpoint restores only with the shard count and key partitions that wrote it; damage is refused.
    @Test func checkpointBelongsToItsShape() throws {
        var sharded = ShardedEngine(configuration: Self.configuration, shards: 3, keyedPartitions: Self.partitions)
        _ = try Self.run(&sharded, Array(Self.population(seed: 2).prefix(3_000)), interleave: 1)
        let bytes = sharded.checkpoint()
        let same = try ShardedEngine(configuration: Self.configuration, shards: 3, keyedPartitions: Self.partitions, restoring: bytes)
        #expect(same.counters == sharded.counters && same.positions == sharded.positions)
        #expect(throws: CheckpointError.configurationChanged("engine.threads")) {
            try ShardedEngine(configuration: Self.configuration, shards: 2, keyedPartitions: Self.partitions, restoring: bytes)
        }
        #expect(throws: CheckpointError.configurationChanged("input partitions")) {
            try ShardedEngine(configuration: Self.configuration, shards: 3, keyedPartitions: 12, restoring: bytes)
        }
        var flipped = bytes
        flipped[flipped.count / 2] ^= 0x10
        #expect(throws: CheckpointError.checksumMismatch) {
            try ShardedEngine(configuration: Self.configuration, shards: 3, keyedPartitions: Self.partitions, restoring: flipped)
        }
        for cut in [0, 5, 20, bytes.count - 1] {
            #expect(throws: CheckpointError.self) {
                try ShardedEngine(configuration: Self.configuration, shards: 3, keyedPartitions: Self.partitions,
                                  restoring: Array(bytes.prefix(cut)))
            }
        }
    }

    /// Forgetting a person drops their figures, rule state and open alerts: the next boards do not show them.
    @Test func forgetDropsAPersonsState() throws {
        var engine = ShardedEngine(configuration: Self.configuration, shards: 2, keyedPartitions: Self.partitions)
        engine.assign(partitions: Array(0..<Self.partitions))
        let messages = Self.population(seed: 7).filter { $0.event.ts < H.monday + 14 * H.hour }
        var offsets = [Int64](repeating: 0, count: Int(Self.partitions))
        for m in messages {
            let payload = Array(m.event.json.utf8)
            _ = payload.withUnsafeBytes { engine.process($0, partition: m.partition, offset: offsets[Int(m.partition)]) }
            offsets[Int(m.partition)] += 1
        }
        engine.emitDueSnapshots()
        let before = engine.takeOutputs().filter { $0.kind == .leaderboard }
        let shown = { (records: [OutputRecord]) in records.contains { String(decoding: $0.value, as: UTF8.self).contains("\"hoarder\"") } }
        #expect(shown(before), "the test needs hoarder on the boards first")
        #expect(try #require(engine.explain("hoarder")).flags.isEmpty == false)

        let forgot = engine.forget("hoarder"), forgotNobody = engine.forget("nobody")
        #expect(forgot && !forgotNobody)
        engine.emitDueSnapshots(idle: Set(0..<Self.partitions), quietAdvanceMs: Self.configuration.snapshotIntervalMs)
        let after = engine.takeOutputs().filter { $0.kind == .leaderboard }
        #expect(!after.isEmpty && !shown(after))
        let explanation = try #require(engine.explain("hoarder"))
        #expect(explanation.flags.isEmpty && explanation.summary.suspicion == 0)
        #expect(explanation.summary.windows.allSatisfy { $0.tokens == 0 && $0.events == 0 })
    }

    /// Merging the shards' partial top k equals ranking everyone, ties and adoption included.
    @Test func mergeEqualsFullRanking() {
        var rng = TestRandom(3)
        for _ in 0..<200 {
            let k = 1 + Int(rng.next() % 6)
            let shards = 1 + Int(rng.next() % 4)
            var all: [PartialBoard.Candidate] = []
            var partials: [[PartialBoard]] = []
            for s in 0..<shards {
                let users = (0..<Int(rng.next() % 9)).map { i in
                    PartialBoard.Candidate(value: Int64(rng.next() % 5), entry: LeaderboardEntry(
                        rank: 0, userId: "u\(s)-\(i)\(rng.next() % 3 == 0 ? "x" : "")", team: "t", tokens: 0, events: 0,
                        outcomes: 0, effectiveTokens: 0, suspicion: 0, flags: []))
                }
                all += users
                let top = Array(users.sorted(by: BoardMerge.ranksBefore).prefix(k))
                partials.append([PartialBoard(window: "1h", scope: "global", candidates: top, activeUsers: users.count,
                                              knownUsers: users.count + s, effectiveActiveUsers: users.count / 2)])
            }
            let board = BoardMerge.merge(partials, window: "1h", rankBy: .tokens, topK: k)[0]
            let expected = all.sorted { a, b in
                a.value != b.value ? a.value > b.value : Array(a.entry.userId.utf8).lexicographicallyPrecedes(Array(b.entry.userId.utf8))
            }.prefix(k)
            #expect(board.entries.map(\.userId) == expected.map(\.entry.userId))
            #expect(board.entries.map(\.rank) == Array(1...max(1, board.entries.count)).prefix(board.entries.count).map { $0 })
            #expect(board.adoption.activeUsers == all.count)
        }
    }
}
