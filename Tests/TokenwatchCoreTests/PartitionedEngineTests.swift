import Testing
@testable import TokenwatchCore

/// Several instances that split the input partitions, exchanging through one ordered log and storing
/// epochs in a changelog, publish the boards and alerts one engine publishes: through random
/// reassignments (every instance then restarts from the newest complete epoch), a merger that moves,
/// and events not keyed by their user.
@Suite("Partitioned instances")
struct PartitionedEngineTests {
    typealias H = DetectionHarness
    typealias S = ShardedEngineTests
    static let partitions = S.partitions
    /// Three hours of event time between epochs: a few dozen in the two days.
    static let epochMs: Int64 = 3 * 3_600_000

    /// One instance: its engine, where it reads the exchange log, and where it reads each partition.
    struct Instance {
        var engine: PartitionedEngine
        var read: Int
        var cursor: [Int32: Int]
    }

    /// The input, the shared logs, the instances and what they published.
    struct Deployment {
        let configuration: EngineConfiguration
        var queues: [[S.Message]]
        var log: [ExchangeRecord] = []
        /// Per partition, its epochs in two slots (a compacted topic keyed by partition and slot).
        var changelog: [Int32: [Int64: PartitionEpochState]] = [:]
        var instances: [Instance] = []
        var merger: BoardMerger
        var mergerRead = 0
        var boards: [OutputRecord] = []
        var alerts: [OutputRecord] = []
        var restoredEpochs: [Int64?] = []
        /// Reassignments where two epochs were complete (instances then restored either).
        var olderEpochRestores = 0

        init(_ messages: [S.Message], configuration: EngineConfiguration = S.configuration) {
            self.configuration = configuration
            merger = BoardMerger(configuration: configuration, partitions: PartitionedEngineTests.partitions)
            queues = Array(repeating: [], count: Int(PartitionedEngineTests.partitions))
            for m in messages { queues[Int(m.partition)].append(m) }
        }

        /// Every instance starts again, holding `assignment[i]`, from an epoch complete for every partition:
        /// the newest, or (each instance on its own, at random) the one before when both are complete.
        mutating func reassign(_ assignment: [[Int32]], rng: inout TestRandom) throws {
            let held = changelog.mapValues { Set($0.values.map(\.epoch)) }
            let complete = PartitionEpochState.complete(held, partitions: PartitionedEngineTests.partitions).sorted()
            restoredEpochs.append(complete.last)
            if complete.count > 1 { olderEpochRestores += 1 }
            instances = try assignment.map { owned in
                let epoch = complete.count > 1 && rng.next() % 2 == 0 ? complete[complete.count - 2] : complete.last
                let states = epoch.map { e in changelog.values.compactMap { $0.values.first { $0.epoch == e } } } ?? []
                let engine = try PartitionedEngine(configuration: configuration, partitions: PartitionedEngineTests.partitions,
                                                   owned: owned, epochMs: PartitionedEngineTests.epochMs, restoring: states)
                return Instance(engine: engine, read: Int(engine.exchangePosition),
                                cursor: engine.positions.mapValues { $0 < 0 ? 0 : Int($0) })
            }
        }

        /// The merger moves: a new one reads the log from its start.
        mutating func moveMerger() {
            merger = BoardMerger(configuration: configuration, partitions: PartitionedEngineTests.partitions)
            mergerRead = 0
        }

        var exhausted: Bool {
            instances.allSatisfy { i in i.cursor.allSatisfy { $0.value >= queues[Int($0.key)].count } }
        }

        /// Instance `i` reads the log, takes up to `batch` messages of one partition, advances and publishes.
        /// Returns whether anything happened.
        mutating func step(_ i: Int, batch: Int, rng: inout TestRandom) -> Bool {
            var instance = instances[i]
            defer { instances[i] = instance }
            let logBefore = log.count, outputsBefore = alerts.count
            var moved = instance.read < log.count
            while instance.read < log.count {
                instance.engine.receive(log[instance.read], at: Int64(instance.read))
                instance.read += 1
            }
            let open = instance.engine.owned.filter { instance.cursor[$0]! < queues[Int($0)].count }
            if !instance.engine.isWaiting, !open.isEmpty {
                let p = open[Int(rng.next() % UInt64(open.count))]
                for _ in 0..<batch where instance.cursor[p]! < queues[Int(p)].count {
                    let m = queues[Int(p)][instance.cursor[p]!]
                    let payload = Array(m.event.json.utf8), key = Array((m.key ?? m.event.user).utf8)
                    _ = payload.withUnsafeBytes { bytes in
                        key.withUnsafeBytes { k in
                            instance.engine.process(bytes, partition: p, offset: Int64(instance.cursor[p]!), checkingKey: k)
                        }
                    }
                    instance.cursor[p]! += 1
                }
                moved = true
            }
            // A partition read to its end is idle (a live instance's idle timeout).
            let idle = Set(instance.engine.owned.filter { instance.cursor[$0]! >= queues[Int($0)].count })
            instance.engine.advance(idle: idle, quietAdvanceMs: H.day)
            // An epoch is stored before anything after it is published.
            for state in instance.engine.takeEpochStates() {
                changelog[state.partition, default: [:]][(state.epoch / PartitionedEngineTests.epochMs) % 2] = state
            }
            log += instance.engine.takeExchange()
            alerts += instance.engine.takeOutputs().filter { $0.kind == .alert }
            while mergerRead < log.count {
                if case .report(let r) = log[mergerRead] { merger.add(r) }
                mergerRead += 1
            }
            boards += merger.takeBoards()
            return moved || log.count > logBefore || alerts.count > outputsBefore
        }

        /// Runs to the end of the input, reassigning at random `reassignments` times and moving the merger.
        mutating func run(instances count: Int, seed: UInt64, reassignments: Int) throws {
            var rng = TestRandom(seed)
            try reassign(Self.randomAssignment(count, rng: &rng), rng: &rng)
            var steps = 0, left = reassignments
            // Reassigned every 7 hours of snapshot progress (of every instance), from the first event on.
            var next = (queues.compactMap { $0.first?.event.ts }.min() ?? 0) + 7 * H.hour
            while steps < 100_000 {
                steps += 1
                let progress = instances.filter { !$0.engine.owned.isEmpty }.map { $0.engine.lastSnapshotAt ?? .min }.min() ?? .min
                if left > 0, progress >= next {
                    next = progress + 7 * H.hour
                    left -= 1
                    try reassign(Self.randomAssignment(count, rng: &rng), rng: &rng)
                    if rng.next() % 2 == 0 { moveMerger() }
                }
                if !exhausted {
                    let i = Int(rng.next() % UInt64(instances.count))
                    _ = step(i, batch: Int(rng.next() % 300) + 1, rng: &rng)
                } else if !instances.indices.map({ step($0, batch: 0, rng: &rng) }).contains(true) {
                    return  // the input is read and a whole round changed nothing
                }
            }
            Issue.record("no end after \(steps) steps")
        }

        /// The partitions dealt at random to `count` instances (some may get none).
        static func randomAssignment(_ count: Int, rng: inout TestRandom) -> [[Int32]] {
            var assignment = Array(repeating: [Int32](), count: count)
            for p in 0..<PartitionedEngineTests.partitions { assignment[Int(rng.next() % UInt64(count))].append(p) }
            return assignment
        }
    }

    /// Per (as_of, board key), its one content; records a second, different content as an issue.
    static func boardsByKey(_ records: [OutputRecord]) -> [String: [UInt8]] {
        var byKey: [String: [UInt8]] = [:]
        for r in records {
            let key = "\(r.eventTime ?? 0) \(String(decoding: r.key ?? [], as: UTF8.self))"
            if let seen = byKey[key] {
                #expect(seen == r.value, "two contents for \(key)")
            }
            byKey[key] = r.value
        }
        return byKey
    }

    static func check(_ messages: [S.Message], configuration: EngineConfiguration = S.configuration, seed: UInt64,
                      reassignments: Int) throws -> Deployment {
        var single = Engine(configuration: configuration)
        let expected = S.published(try S.run(&single, messages, interleave: 1))
        var deployment = Deployment(messages, configuration: configuration)
        try deployment.run(instances: 3, seed: seed, reassignments: reassignments)
        let want = boardsByKey(expected.filter { $0.kind == .leaderboard })
        let got = boardsByKey(deployment.boards)
        let firstAsOf = expected.compactMap(\.eventTime).min() ?? 0
        var missing = 0, different = 0
        for (key, value) in want {
            guard let mine = got[key] else { missing += 1; continue }
            if mine != value {
                different += 1
                if different == 1 {
                    let at = zip(mine, value).prefix { $0 == $1 }.count
                    Issue.record("\(key) from byte \(at):\n  got      \(String(decoding: mine.dropFirst(at), as: UTF8.self))\n  expected \(String(decoding: value.dropFirst(at), as: UTF8.self))")
                }
            }
        }
        #expect(missing == 0, "\(missing) of \(want.count) boards not published")
        #expect(different == 0, "\(different) of \(want.count) boards differ")
        // Boards one engine does not publish are only those before its first snapshot time.
        let extra = deployment.boards.filter { want["\($0.eventTime ?? 0) \(String(decoding: $0.key ?? [], as: UTF8.self))"] == nil }
        #expect(extra.allSatisfy { ($0.eventTime ?? 0) < firstAsOf }, "boards after the first one engine publishes that it does not")
        let wantAlerts = Set(expected.filter { $0.kind == .alert }.map(\.value))
        let gotAlerts = Set(deployment.alerts.map(\.value))
        #expect(wantAlerts.count > 5)
        #expect(gotAlerts == wantAlerts, "\(gotAlerts.subtracting(wantAlerts).count) alerts extra, \(wantAlerts.subtracting(gotAlerts).count) missing")
        return deployment
    }

    @Test func instancesPublishWhatOneEnginePublishes() throws {
        let deployment = try Self.check(S.population(seed: 7), seed: 1, reassignments: 0)
        #expect(deployment.changelog.count == Int(Self.partitions))
    }

    @Test func reassignmentsRestartFromACompleteEpoch() throws {
        for seed: UInt64 in [2, 3] {
            let deployment = try Self.check(S.population(seed: 7), seed: seed, reassignments: 4)
            #expect(deployment.restoredEpochs.count >= 3)
            #expect(deployment.restoredEpochs.contains { $0 != nil }, "no reassignment restored an epoch")
            #expect(deployment.olderEpochRestores > 0, "instances never had two epochs to choose from")
        }
    }

    /// Copies of an event on several partitions, not keyed by their user, count once, where the user is.
    /// The per-event rules are off: they read a user's events in arrival order, which copies on several
    /// partitions do not keep (docs: key by user).
    @Test func unkeyedEventsCountOnceAcrossInstances() throws {
        let keyed = S.population(seed: 11).filter { !$0.event.user.hasPrefix("bot") }
        var rng = TestRandom(5)
        var messages: [S.Message] = []
        for m in keyed {
            guard rng.next() % 3 == 0 else { messages.append(m); continue }
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                messages.append(S.Message(partition: Int32(rng.next() % UInt64(Self.partitions)), event: m.event, key: ""))
            }
        }
        var configuration = S.configuration
        for rule: RuleKind in [.volumeSpike, .machineCadence, .duplicatePrompts, .hollowOutcomes] {
            configuration.detection.rules[rule] = configuration.detection.parameters(rule)
            configuration.detection.rules[rule]!.enabled = false
        }
        let deployment = try Self.check(messages, configuration: configuration, seed: 4, reassignments: 3)
        #expect(deployment.log.contains { if case .forward = $0 { true } else { false } })
    }

    @Test func exchangeRecordsRoundTrip() throws {
        var deployment = Deployment(S.population(seed: 7))
        try deployment.run(instances: 2, seed: 9, reassignments: 0)
        var kinds = Set<Int>()
        for record in deployment.log {
            let bytes = record.encoded()
            #expect(ExchangeRecord(decoding: bytes) == record)
            switch record {
            case .forward: kinds.insert(0)
            case .marker(let m): kinds.insert(m.samples == nil ? 1 : 2)
            case .report: kinds.insert(3)
            case .merged: kinds.insert(4)
            }
            // Damage is refused, never trapped on.
            var damaged = bytes
            damaged[bytes.count / 2] ^= 0x40
            #expect(ExchangeRecord(decoding: damaged) == nil)
            #expect(ExchangeRecord(decoding: Array(bytes.prefix(bytes.count - 1))) == nil)
        }
        #expect(kinds.isSuperset(of: [1, 2, 3]))
        #expect(ExchangeRecord(decoding: ExchangeRecord.merged(asOf: 42).encoded()) == .merged(asOf: 42))
        for states in deployment.changelog.values {
            for state in states.values { #expect(PartitionEpochState(decoding: state.encoded()) == state) }
        }
    }
}

