import Testing
@testable import TokenwatchCore

/// Users silent longer than the known-users window give their id back (`Engine.releaseVacatedUsers`):
/// memory follows the people of the longest window, and nothing published changes for anyone else.
@Suite("Released user ids")
struct UserReleaseTests {
    typealias H = DetectionHarness
    typealias Message = ShardedEngineTests.Message
    static let steady = 6, cohort = 10, days = 16

    /// A known-users window of one day (the longest board window), ranked by tokens so that a board
    /// depends on the windows alone (not on rule state a returning user starts afresh).
    static func configuration(horizonDays: Int64) -> EngineConfiguration {
        var c = ShardedEngineTests.configuration
        c.knownUsersHorizonMs = horizonDays * H.day
        c.rankBy = .tokens
        return c
    }

    /// Sixteen days from a Saturday: steady people every day, a new cohort each day that works that day
    /// only, the first cohort back on day 6 (long after its ids were released), and a looper whose alert
    /// opens and resolves.
    static func population() -> [Message] {
        var h = DetectionHarness()
        var rng = TestRandom(41)
        let teams = ["red", "blue", "green", "gold"]
        for day in 0..<days {
            let base = H.monday - 2 * H.day + Int64(day) * H.day
            for u in 0..<steady {
                h.workday(user: "steady\(u)", team: teams[u % 4], start: base + 8 * H.hour, hours: 8, requests: 30, rng: &rng)
            }
            for u in 0..<cohort {
                h.workday(user: "c\(day)-\(u)", team: teams[u % 4], start: base + (9 + Int64(u % 3)) * H.hour, hours: 4,
                          requests: 10 + Int(rng.next() % 20), rng: &rng)
            }
            if day == 6 {
                for u in 0..<cohort {
                    h.workday(user: "c0-\(u)", team: teams[(u + 1) % 4], start: base + 13 * H.hour, hours: 3, requests: 12, rng: &rng)
                }
            }
        }
        for i in 0..<150 {
            h.schedule(UsageEvent(id: h.id(), ts: H.monday + 10 * H.hour + Int64(i) * 120_000, user: "looper", team: "blue",
                                  input: 9_000, output: 800, prompt: "loop-\(i % 4)"))
        }
        return h.scheduled.sorted { $0.event.ts < $1.event.ts }.map { item in
            let p = Array(item.event.user.utf8).withUnsafeBytes {
                KeyPartitioner.partition(key: $0, partitions: ShardedEngineTests.partitions)
            }
            return Message(partition: p, event: item.event, key: nil)
        }
    }

    /// Feeds `messages` in event-time order (no partition read ahead of the others), snapshotting as it goes.
    static func runInOrder(_ engine: inout Engine, _ messages: [Message]) -> [OutputRecord] {
        engine.assign(partitions: Array(0..<ShardedEngineTests.partitions))
        var offsets: [Int32: Int64] = [:]
        var outputs: [OutputRecord] = []
        for m in messages {
            let offset = offsets[m.partition, default: 0]
            offsets[m.partition] = offset + 1
            _ = Array(m.event.json.utf8).withUnsafeBytes { engine.process($0, partition: m.partition, offset: offset) }
            engine.emitDueSnapshots()
            outputs += engine.takeOutputs()
        }
        return outputs
    }

    @Test func idsOfSilentUsersAreReusedAndNothingPublishedChanges() throws {
        let messages = Self.population()
        var engine = Engine(configuration: Self.configuration(horizonDays: 1))
        let outputs = Self.runInOrder(&engine, messages)
        let distinct = Set(messages.map(\.event.user)).count
        // A user is held while in the known-users window (a day here) and in the open week's tallies (the
        // weekly rules'): at most the steady people, the looper and nine cohorts hold ids at once. (A
        // partition read far ahead of the others brings its new users in before the snapshots that free ids.)
        #expect(engine.counters.releasedUsers >= (Self.days - 9) * Self.cohort)
        #expect(engine.users.count <= Self.steady + 9 * Self.cohort + 1, "ids: \(engine.users.count) of \(distinct) users")
        #expect(engine.trackedUsers == engine.users.liveCount)
        #expect(engine.trackedUsers < distinct)
        #expect(try outputs.filter { $0.kind == .alert }.contains { try ParsedAlert($0).rule == "duplicate_prompts" })

        // The same boards as an engine that keeps every id (a horizon nobody outlives here): entries,
        // totals, teams and active users alike, the returning cohort included.
        var keeping = Engine(configuration: Self.configuration(horizonDays: 30))
        let kept = Self.runInOrder(&keeping, messages)
        #expect(keeping.counters.releasedUsers == 0)
        let boards = try outputs.filter { $0.kind == .leaderboard }.map(Board.init)
        let reference = try kept.filter { $0.kind == .leaderboard }.map(Board.init)
        #expect(boards.count == reference.count)
        #expect(boards.contains { b in b.entries.contains { $0.user == "c0-0" } && b.asOf > H.monday + 3 * H.day })
        for (got, want) in zip(boards, reference) {
            #expect(got.asOf == want.asOf && got.window == want.window && got.scope == want.scope)
            #expect(got.active == want.active, "\(got.window) \(got.scope) at \(got.asOf)")
            #expect(got.entries.map(\.user) == want.entries.map(\.user), "\(got.window) \(got.scope) at \(got.asOf)")
            #expect(got.entries.map(\.tokens) == want.entries.map(\.tokens))
            #expect(got.entries.map(\.events) == want.entries.map(\.events))
            #expect(got.entries.map(\.team) == want.entries.map(\.team))
        }
    }

    /// Free ids travel in the checkpoint, and shards release their own users: restarts and any shard
    /// count publish byte for byte what one uninterrupted engine publishes.
    @Test func restartsAndShardsPublishTheSameAfterReleases() throws {
        let messages = Self.population()
        let configuration = Self.configuration(horizonDays: 1)
        var single = Engine(configuration: configuration)
        let expected = ShardedEngineTests.published(try ShardedEngineTests.run(&single, messages, interleave: 2))
        #expect(single.counters.releasedUsers > 0)

        var restarted = Engine(configuration: configuration)
        let afterRestarts = ShardedEngineTests.published(try ShardedEngineTests.run(&restarted, messages, interleave: 2, restartEvery: 5))
        #expect(ShardedEngineTests.firstDifference(afterRestarts, expected) == nil)
        #expect(restarted.users.count == single.users.count)
        let bytes = restarted.checkpoint()
        let restored = try Engine(configuration: configuration, restoring: bytes)
        #expect(restored.checkpoint() == bytes)
        // Every window of a restored engine says who leaves it, as a new engine's does.
        #expect(restored.known.tracksVacated && restored.windows.allSatisfy(\.tracksVacated)
            && restored.unreported.allSatisfy(\.tracksVacated))

        var sharded = ShardedEngine(configuration: configuration, shards: 3, keyedPartitions: ShardedEngineTests.partitions)
        let fromShards = ShardedEngineTests.published(try ShardedEngineTests.run(&sharded, messages, interleave: 4, restartEvery: 9))
        #expect(ShardedEngineTests.firstDifference(fromShards, expected) == nil)
        #expect(sharded.counters.releasedUsers > 0)
    }
}

@Suite("Interner")
struct InternerTests {
    /// Random interning and releasing against a dictionary: every live string keeps its id, a released
    /// one is not found, the smallest free id is reused first, and the bytes are compacted on the way.
    @Test func releaseReusesTheSmallestFreeIdAndKeepsLookupsRight() {
        var interner = Interner(capacity: 8)
        var model: [String: UInt32] = [:]
        var live: [String] = []
        var free = Set<UInt32>()
        var rng = TestRandom(7)
        for step in 0..<40_000 {
            let name = "user-\(rng.next() % 3_000)-" + String(repeating: "x", count: Int(rng.next() % 40))
            if rng.next() % 3 == 0, !live.isEmpty {
                let victim = live.remove(at: rng.below(live.count))
                interner.release(model[victim]!)
                free.insert(model[victim]!)
                model[victim] = nil
                continue
            }
            var bytes = name
            let (id, isNew) = bytes.withUTF8 { interner.intern(UnsafeRawBufferPointer($0)) }
            if let known = model[name] {
                #expect(!isNew && id == known, "step \(step)")
            } else {
                #expect(isNew)
                #expect(id == free.min() ?? UInt32(interner.count - 1), "step \(step): a new string takes the smallest free id")
                free.remove(id)
                model[name] = id
                live.append(name)
            }
        }
        #expect(interner.liveCount == model.count)
        #expect(interner.count == model.count + free.count)
        for (name, id) in model {
            #expect(interner.string(id) == name)
            var bytes = name
            #expect(bytes.withUTF8 { interner.lookup(UnsafeRawBufferPointer($0)) } == id)
        }
        for id in free { #expect(interner.isFree(id) && interner.string(id) == "") }
        // The tie-break order is the strings' byte order, whatever ids they have.
        let sorted = model.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        for (a, b) in zip(sorted, sorted.dropFirst()) { #expect(interner.less(model[a]!, model[b]!)) }
    }
}
