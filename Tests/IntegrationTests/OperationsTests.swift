import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Exactness under real operations: several instances, long pauses, poison messages, damaged or
/// foreign state, a second daemon on one state directory. Every board is checked against the brute force.
@Suite(.serialized)
struct OperationsTests {
    typealias E2E = EndToEndTests
    static let partitions = 4

    /// Produces `chunk`, then waits until the board the whole of `sent` allows is out; returns its as_of.
    @discardableResult
    static func feed(_ h: Harness, brokers: String, _ chunk: ArraySlice<UsageEvent>, sent: [UsageEvent], watching daemons: [Child],
                     key: (UsageEvent) -> String = { $0.userId }) async throws -> Int64 {
        if !chunk.isEmpty { try await h.produce(brokers: brokers, topic: E2E.inputTopic, chunk.map { (key($0), $0.payload) }) }
        let asOf = try await lastAsOf(h, brokers: brokers, events: sent)
        try await h.waitUntil("board 1h|global as of \(asOf)", timeout: .seconds(120), alive: []) {
            guard daemons.contains(where: \.isRunning) else { throw h.fail("every daemon exited") }
            let records = try await h.consume(brokers: brokers, topic: E2E.boardTopic)
            return try parseBoards(records.filter { $0.key == "1h|global" }).contains { $0.asOf >= asOf }
        }
        return asOf
    }

    /// The newest as_of the input allows (like `EndToEndTests.lastAsOf`, but any key is fine).
    static func lastAsOf(_ h: Harness, brokers: String, events: [UsageEvent]) async throws -> Int64 {
        let input = try await h.consume(brokers: brokers, topic: E2E.inputTopic)
        var byPayload: [String: Int64] = [:]
        for e in events { byPayload[E2E.text(e)] = e.ts }
        return try expectedLastAsOf(input: input, partitions: partitions, allowedLatenessMs: E2E.allowedLatenessMs,
                                    snapshotIntervalMs: E2E.snapshotIntervalMs) { byPayload[$0] }
    }

    static func verify(_ h: Harness, brokers: String, events: [UsageEvent], lastAsOf: Int64, windows: [String] = E2E.windows,
                       allowRepeats: Bool, _ what: String) async throws {
        let names = Set(windows.map { String($0.prefix { $0 != "@" }) })
        let boards = try parseBoards(try await h.consume(brokers: brokers, topic: E2E.boardTopic)).filter { names.contains($0.window) }
        var brute = BruteForce(produced: events, windows: windows, topK: 8, snapshotIntervalMs: E2E.snapshotIntervalMs)
        h.expectNoProblems(brute.verify(boards, expectedLastAsOf: lastAsOf, allowRepeats: allowRepeats), what)
        let repeats = boards.count - Set(boards.map(\.id)).count
        print("\(what): \(boards.count) boards, \(repeats) repeated (window, scope, as_of) with identical content")
    }

    static func chunks(_ events: [UsageEvent], _ n: Int) -> [Range<Int>] {
        (0..<n).map { (events.count * $0 / n)..<(events.count * ($0 + 1) / n) }
    }

    // MARK: - (a) several instances

    @Test("three instances in one group, the active one killed -9 mid-stream and a fourth joining: every board exact, one content each")
    func severalInstances() async throws {
        try await Harness.run("several-instances") { h in
            let (_, brokers) = try await h.startBroker(partitions: Self.partitions, brokers: 3)
            let events = generateStream(seed: 31, start: 1_752_480_000_000, count: 2400)
            let settings = E2E.settings(topK: 8)
            var daemons = try (0..<3).map { i in
                try h.startDaemon(brokers: brokers, stateDirectory: h.directory.appendingPathComponent("state-\(i)"), settings: settings)
            }
            let parts = Self.chunks(events, 6)
            var last = Int64.min
            for (i, range) in parts.enumerated() {
                if i == 3 {
                    // Kill the active instance at its worst moment: right after new input arrived.
                    let active = daemons.filter { $0.isRunning && $0.stderr.contains("active: this instance consumes") }
                    h.expect(active.count == 1, "\(active.count) active instances before the kill, expected 1")
                    try await h.produce(brokers: brokers, topic: E2E.inputTopic, events[range].map { ($0.userId, $0.payload) })
                    active.first?.signal(SIGKILL)
                    daemons.append(try h.startDaemon(brokers: brokers, stateDirectory: h.directory.appendingPathComponent("state-3"),
                                                     settings: settings))
                    last = try await Self.lastAsOf(h, brokers: brokers, events: Array(events[..<range.upperBound]))
                    continue
                }
                last = try await Self.feed(h, brokers: brokers, events[range], sent: Array(events[..<range.upperBound]), watching: daemons)
                if i == 4 {
                    // One more joins while an instance is active: the election is sticky, the active one stays.
                    daemons.append(try h.startDaemon(brokers: brokers, stateDirectory: h.directory.appendingPathComponent("state-4"),
                                                     settings: settings))
                    try await h.waitUntil("the fifth instance in the election", alive: [daemons[4]]) {
                        daemons[4].stderr.contains("partitions assigned") || daemons[4].stderr.contains("standby")
                    }
                }
            }
            let running = daemons.filter(\.isRunning)
            h.expect(!running.contains { $0.stderr.contains("standby: another instance is active") },
                     "an active instance stepped down when another joined the group")
            let actives = running.filter { $0.stderr.components(separatedBy: "active: this instance consumes").count > 1 }
            h.expect(!actives.isEmpty, "no surviving instance became active")
            for d in running { _ = try await h.stop(d) }
            try await Self.verify(h, brokers: brokers, events: events, lastAsOf: last, allowRepeats: true, "boards of several instances")
        }
    }

    @Test("instances that split the partitions, one killed -9 mid-stream and one joining: every board exact, one content each, the partitions counted by several")
    func instancesSplittingThePartitions() async throws {
        try await Harness.run("split-instances") { h in
            let (_, brokers) = try await h.startBroker(partitions: Self.partitions, brokers: 3)
            let events = generateStream(seed: 37, start: 1_752_480_000_000, count: 2400)
            let settings = E2E.settings(topK: 8, extra: ["TOKENWATCH_ENGINE_INSTANCES": "split", "TOKENWATCH_STATE_EPOCH_INTERVAL": "10m"])
            func start(_ i: Int) throws -> Child {
                try h.startDaemon(brokers: brokers, stateDirectory: h.directory.appendingPathComponent("state-\(i)"), settings: settings)
            }
            var daemons = try (0..<3).map(start)
            let parts = Self.chunks(events, 6)
            var last = Int64.min
            for (i, range) in parts.enumerated() {
                if i == 3 {
                    // Kill the merging instance (it holds partitions too, or another that does) right after new
                    // input arrived; another joins. The next merger must publish what the dead one had not.
                    try await h.produce(brokers: brokers, topic: E2E.inputTopic, events[range].map { ($0.userId, $0.payload) })
                    let holding = daemons.filter { $0.isRunning && Self.holdsPartitions($0) }
                    (holding.first { $0.stderr.contains("merging: this instance") } ?? holding.last)?.signal(SIGKILL)
                    daemons.append(try start(3))
                    last = try await Self.lastAsOf(h, brokers: brokers, events: Array(events[..<range.upperBound]))
                    continue
                }
                last = try await Self.feed(h, brokers: brokers, events[range], sent: Array(events[..<range.upperBound]), watching: daemons)
            }
            let running = daemons.filter(\.isRunning)
            // Several instances counted partitions at once (the last assignment of each running one).
            let holding = running.filter(Self.holdsPartitions)
            h.expect(holding.count >= 2, "\(holding.count) running instances hold partitions, expected several")
            h.expect(running.contains { $0.stderr.contains("epoch=20") }, "no instance started again from an epoch after the kill")
            for d in running {
                let status = try await h.stop(d)
                h.expect(status == 0, "exit \(status) after SIGTERM")
            }
            try await Self.verify(h, brokers: brokers, events: events, lastAsOf: last, allowRepeats: true, "boards of instances splitting the partitions")
        }
    }

    @Test("a standby takes over from the changelog: it restores the killed active instance's state instead of re-reading the input")
    func takeoverFromTheChangelog() async throws {
        try await Harness.run("changelog-takeover") { h in
            let (_, brokers) = try await h.startBroker(partitions: Self.partitions)
            let events = generateStream(seed: 33, start: 1_752_480_000_000, count: 2000)
            let settings = E2E.settings(topK: 8, extra: ["TOKENWATCH_STATE_CHECKPOINT_INTERVAL": "1s"])
            let first = try h.startDaemon(brokers: brokers, stateDirectory: h.directory.appendingPathComponent("state-0"), settings: settings)
            let parts = Self.chunks(events, 2)
            try await Self.feed(h, brokers: brokers, events[parts[0]], sent: Array(events[..<parts[0].upperBound]), watching: [first])
            let second = try h.startDaemon(brokers: brokers, stateDirectory: h.directory.appendingPathComponent("state-1"), settings: settings)
            // Two more acknowledged changelog writes: the later one began after the first part was consumed.
            let written = try await Self.changelogWrites(h, first)
            try await h.waitUntil("two more checkpoints in the changelog", timeout: .seconds(60), alive: [first, second]) {
                try await Self.changelogWrites(h, first) >= written + 2
            }
            first.signal(SIGKILL)
            let last = try await Self.feed(h, brokers: brokers, events[parts[1]], sent: events, watching: [second])
            let status = try await h.stop(second)
            h.expect(status == 0, "exit \(status) after SIGTERM")
            h.expect(second.stderr.contains("state restored from the changelog"), "the standby did not restore the changelog:\n\(second.stderr.suffix(2000))")
            // It read only what came after the first instance's last checkpoint: the second part.
            let consumed = second.stderr.firstMatch(of: /consumed=(\d+) \[TokenwatchService\] stopped/).flatMap { Int($0.output.1) }
            h.expect(consumed == parts[1].count, "the standby consumed \(consumed ?? -1) messages, expected the second part's \(parts[1].count)")
            try await Self.verify(h, brokers: brokers, events: events, lastAsOf: last, allowRepeats: true, "boards after a takeover from the changelog")
        }
    }

    /// The daemon's acknowledged changelog writes, from `/metrics`.
    static func changelogWrites(_ h: Harness, _ daemon: Child) async throws -> Int {
        guard let address = daemon.stderr.firstMatch(of: /address=(127\.0\.0\.1:\d+)/)?.output.1 else { return 0 }
        let run = try await h.runTool("curl-metrics", URL(fileURLWithPath: "/usr/bin/curl"), ["-sf", "http://\(address)/metrics"])
        let line = run.stdout.split(separator: "\n").first { $0.hasPrefix("tokenwatch_changelog_writes_total{result=\"acknowledged\"} ") }
        return line.flatMap { Double($0.split(separator: " ").last ?? "") }.map { Int($0) } ?? 0
    }

    // MARK: - (b) a long pause

    /// Whether a split instance's last assignment gave it partitions.
    static func holdsPartitions(_ d: Child) -> Bool {
        let assignments = d.stderr.matches(of: /partitions=\[([0-9, ]*)\] \[TokenwatchService\] partitions assigned/)
        return assignments.last.map { !$0.output.1.isEmpty } ?? false
    }

    /// The settings of `mode` (`standby`: one instance; `split`: two splitting the partitions) and its daemon count.
    static func instances(_ mode: String, _ extra: [String: String] = [:]) -> (settings: [String: String], count: Int) {
        var extra = extra
        guard mode == "split" else { return (E2E.settings(topK: 8, extra: extra), 1) }
        extra["TOKENWATCH_ENGINE_INSTANCES"] = "split"
        extra["TOKENWATCH_STATE_EPOCH_INTERVAL"] = "10m"
        return (E2E.settings(topK: 8, extra: extra), 2)
    }

    @Test("SIGSTOP longer than the session timeout, then SIGCONT: nothing counted twice", arguments: ["standby", "split"])
    func pauseLongerThanSession(_ mode: String) async throws {
        try await Harness.run("long-pause-\(mode)") { h in
            let (_, brokers) = try await h.startBroker(partitions: Self.partitions)
            let events = generateStream(seed: 32, start: 1_752_480_000_000, count: 1600)
            // Nothing is committed during the test: the rejoin would re-read everything from the committed offsets.
            let (settings, count) = Self.instances(mode, ["TOKENWATCH_STATE_CHECKPOINT_INTERVAL": "10m"])
            let daemons = try (0..<count).map { i in
                try h.startDaemon(brokers: brokers, stateDirectory: h.directory.appendingPathComponent("state-\(i)"), settings: settings)
            }
            let parts = Self.chunks(events, 2)
            try await Self.feed(h, brokers: brokers, events[parts[0]], sent: Array(events[..<parts[0].upperBound]), watching: daemons)
            // The paused one holds partitions (split: either may hold none).
            let paused = daemons.first(where: Self.holdsPartitions) ?? daemons[0]
            paused.signal(SIGSTOP)
            try await Task.sleep(for: .seconds(14))  // session.timeout.ms is 6 s in these tests
            paused.signal(SIGCONT)
            let last = try await Self.feed(h, brokers: brokers, events[parts[1]], sent: events, watching: daemons)
            for d in daemons {
                let status = try await h.stop(d)
                h.expect(status == 0, "exit \(status) after SIGTERM")
            }
            h.expect(paused.stderr.contains("revoked") || paused.stderr.contains("standby"),
                     "the pause did not cost the assignment (no revoke logged): the test proves less")
            try await Self.verify(h, brokers: brokers, events: events, lastAsOf: last, allowRepeats: true, "boards across a long pause (\(mode))")
        }
    }

    // MARK: - (c) a poison message

    @Test("a 2 MB message then valid events: a truncated dead letter, the events counted, SIGTERM exits 0")
    func oversizedMessage() async throws {
        try await Harness.run("oversized") { h in
            let (_, brokers) = try await h.startBroker(partitions: Self.partitions)
            let events = generateStream(seed: 33, start: 1_752_480_000_000, count: 1200)
            let daemon = try h.startDaemon(brokers: brokers, stateDirectory: h.directory.appendingPathComponent("state"),
                                           settings: E2E.settings(topK: 8))
            // 2 MB: a JSON object with one huge string, produced with kcat allowed to send it.
            var big = Array(#"{"event_id":"big","ts":1752480000000,"user_id":"x","input_tokens":1,"output_tokens":1,"pad":""#.utf8)
            big += [UInt8](repeating: UInt8(ascii: "a"), count: 2_000_000) + Array(#""}"#.utf8)
            let file = h.directory.appendingPathComponent("big.json")
            try Data(big).write(to: file)
            let produced = try await h.runTool("kcat-big", h.kcat, ["-b", brokers, "-t", E2E.inputTopic, "-P", "-p", "1", "-k", "x",
                                                                    "-X", "message.max.bytes=4000000", file.path])
            h.expect(produced.exitStatus == 0, "kcat could not produce 2 MB: \(produced.stderr)")
            let last = try await Self.feed(h, brokers: brokers, events[...], sent: events, watching: [daemon])
            let letters = try await h.consume(brokers: brokers, topic: E2E.deadLetterTopic)
            let record = letters.first { $0.value.contains(#""partition":1"#) && $0.value.contains("\"offset\":0") }
            h.expect(record != nil, "no dead letter for the 2 MB message; dead letters: \(letters.map { $0.value.prefix(200) })")
            if let record, let json = try JSONSerialization.jsonObject(with: Data(record.value.utf8)) as? [String: Any] {
                h.expect(record.value.utf8.count < 200_000, "the dead letter is \(record.value.utf8.count) bytes")
                h.expect(json["truncated"] as? Bool == true, "not marked truncated: \(record.value.prefix(300))")
                h.expect((json["payload_bytes"] as? NSNumber)?.intValue == big.count, "payload_bytes \(json["payload_bytes"] ?? "none"), sent \(big.count)")
                h.expect(json["payload_sha256"] as? String == sha256Hex(big), "payload_sha256 is not the whole message's")
                if let b64 = json["payload_base64"] as? String, let prefix = Data(base64Encoded: b64) {
                    h.expect(prefix.count > 0 && Array(prefix) == Array(big.prefix(prefix.count)), "payload_base64 is not a prefix of the message")
                } else {
                    h.expect(false, "payload_base64 missing or not base64")
                }
            }
            let status = try await h.stop(daemon)
            h.expect(status == 0, "exit \(status) after SIGTERM")
            try await Self.verify(h, brokers: brokers, events: events, lastAsOf: last, allowRepeats: false, "boards after a 2 MB message")
        }
    }

    @Test("the cluster gone, then SIGTERM: the daemon writes its checkpoint and exits 0 within TimeoutStopSec (45 s)")
    func stopWithTheClusterGone() async throws {
        try await Harness.run("stop-cluster-gone") { h in
            let (broker, brokers) = try await h.startBroker(partitions: Self.partitions)
            let events = generateStream(seed: 34, start: 1_752_480_000_000, count: 600)
            let state = h.directory.appendingPathComponent("state")
            // librdkafka's default session timeout, as in production: a commit waiting for the coordinator
            // held the stop for all of it, and the changelog waited for message.timeout.ms (5 min).
            var settings = E2E.settings(topK: 8)
            settings["TOKENWATCH_KAFKA_LIBRDKAFKA_SESSION_TIMEOUT_MS"] = "45000"
            let daemon = try h.startDaemon(brokers: brokers, stateDirectory: state, settings: settings)
            try await Self.feed(h, brokers: brokers, events[...], sent: events, watching: [daemon])
            let checkpoint = state.appendingPathComponent("engine.checkpoint")
            let before = try? FileManager.default.attributesOfItem(atPath: checkpoint.path)[.modificationDate] as? Date
            broker.killNow()
            let stopped = ContinuousClock.now
            let status = try await h.stop(daemon, timeout: .seconds(45))
            h.expect(status == 0, "exit \(status) after SIGTERM with the cluster gone")
            print("stopped \(ContinuousClock.now - stopped) after SIGTERM with the cluster gone")
            let after = try FileManager.default.attributesOfItem(atPath: checkpoint.path)[.modificationDate] as? Date
            h.expect(after != nil && after != before, "no checkpoint written at the stop")
        }
    }

    // MARK: - (d) damaged and foreign state

    enum Damage: String, CaseIterable {
        case truncated, empty, otherVersion, flippedByte, otherWindows
    }

    @Test("a damaged checkpoint (truncated, empty, another version, a flipped byte, other windows) is rebuilt from the input: exact boards", arguments: Damage.allCases)
    func damagedCheckpoint(_ damage: Damage) async throws {
        try await Harness.run("damaged-\(damage.rawValue)") { h in
            let (_, brokers) = try await h.startBroker(partitions: Self.partitions)
            let events = generateStream(seed: 34, start: 1_752_480_000_000, count: 1200)
            let state = h.directory.appendingPathComponent("state")
            let checkpoint = state.appendingPathComponent("engine.checkpoint")
            let parts = Self.chunks(events, 2)
            // Without the changelog, which would hand the second run the first one's state: this is the rebuild's test.
            let noChangelog = ["TOKENWATCH_STATE_CHANGELOG": "false"]
            let run1 = try h.startDaemon(brokers: brokers, stateDirectory: state, settings: E2E.settings(topK: 8, extra: noChangelog))
            try await Self.feed(h, brokers: brokers, events[parts[0]], sent: Array(events[..<parts[0].upperBound]), watching: [run1])
            h.expect(try await h.stop(run1) == 0, "first run did not exit 0")
            var bytes = [UInt8](try Data(contentsOf: checkpoint))
            var windows = E2E.windows
            switch damage {
            case .truncated: bytes = Array(bytes.prefix(bytes.count * 2 / 3))
            case .empty: bytes = []
            case .otherVersion: bytes.replaceSubrange(0..<9, with: Array("TWSTATE 7".utf8))
            case .flippedByte:
                // In the engine body, past the header: a token count, a position or a bucket, whatever is there.
                let bodyStart = (1..<bytes.count).first { bytes[$0] == 10 && bytes[$0 - 1] == 10 }! + 1
                bytes[bodyStart + (bytes.count - bodyStart) / 2] ^= 0x04
            case .otherWindows: windows = ["1h@1m", "24h@15m"]
            }
            try Data(bytes).write(to: checkpoint)
            try await h.produce(brokers: brokers, topic: E2E.inputTopic, events[parts[1]].map { ($0.userId, $0.payload) })
            let last = try await Self.lastAsOf(h, brokers: brokers, events: events)
            let run2 = try h.startDaemon(brokers: brokers, stateDirectory: state,
                                         settings: E2E.settings(topK: 8, windows: windows, extra: noChangelog))
            try await Self.feed(h, brokers: brokers, [], sent: events, watching: [run2])
            h.expect(try await h.stop(run2) == 0, "second run did not exit 0")
            h.expect(run2.stderr.contains("rebuilding state from the input"), "the damage was not reported; stderr:\n\(run2.stderr.suffix(2000))")
            try await Self.verify(h, brokers: brokers, events: events, lastAsOf: last, windows: windows, allowRepeats: true,
                                  "boards after a \(damage.rawValue) checkpoint")
        }
    }

    @Test("a state directory from another cluster: exit 2 naming the file; deleting it rebuilds exact boards")
    func stateFromAnotherCluster() async throws {
        try await Harness.run("foreign-state") { h in
            let (_, brokers) = try await h.startBroker(partitions: Self.partitions)
            let events = generateStream(seed: 35, start: 1_752_480_000_000, count: 900)
            let state = h.directory.appendingPathComponent("state")
            let checkpoint = state.appendingPathComponent("engine.checkpoint")
            let run1 = try h.startDaemon(brokers: brokers, stateDirectory: state, settings: E2E.settings(topK: 8))
            try await Self.feed(h, brokers: brokers, events[...], sent: events, watching: [run1])
            h.expect(try await h.stop(run1) == 0, "first run did not exit 0")
            try Data(restamp(try Data(contentsOf: checkpoint), field: "cluster_id", value: "some-other-cluster")).write(to: checkpoint)

            let refused = try h.startDaemon(brokers: brokers, stateDirectory: state, settings: E2E.settings(topK: 8))
            guard await refused.waitForExit(timeout: .seconds(60)) else { throw h.fail("the daemon ran on another cluster's state") }
            h.expect(refused.exitStatus == 2, "exit \(refused.exitStatus ?? -1), expected 2")
            h.expect(refused.stderr.contains(checkpoint.path) && refused.stderr.contains("some-other-cluster"),
                     "the refusal does not name the file and its cluster: \(refused.stderr.suffix(1500))")

            try FileManager.default.removeItem(at: checkpoint)
            let run2 = try h.startDaemon(brokers: brokers, stateDirectory: state, settings: E2E.settings(topK: 8))
            let last = try await Self.feed(h, brokers: brokers, [], sent: events, watching: [run2])
            h.expect(try await h.stop(run2) == 0, "rebuilding run did not exit 0")
            try await Self.verify(h, brokers: brokers, events: events, lastAsOf: last, allowRepeats: true, "boards rebuilt without a checkpoint")
        }
    }

    // MARK: - (f) producers that do not key by user_id

    @Test("events with null keys (each copy on every partition) and with wrong keys: every event counted once", arguments: ["standby", "split"])
    func unkeyedEvents(_ mode: String) async throws {
        try await Harness.run("unkeyed-\(mode)") { h in
            let (_, brokers) = try await h.startBroker(partitions: Self.partitions)
            var seen = Set<String>()
            // One producer keys correctly, one with a wrong key, one not at all; each sends an event once
            // (the null-key one sends it to every partition: four copies, one event).
            let events = generateStream(seed: 36, start: 1_752_480_000_000, count: 1500).filter { seen.insert($0.eventId).inserted }
            let (settings, count) = Self.instances(mode)
            let daemons = try (0..<count).map { i in
                try h.startDaemon(brokers: brokers, stateDirectory: h.directory.appendingPathComponent("state-\(i)"), settings: settings)
            }
            var last = Int64.min
            for (i, range) in Self.chunks(events, 6).enumerated() {
                let chunk = events[range]
                switch i % 3 {
                case 0:
                    for p in 0..<Int32(Self.partitions) {
                        try await h.produce(brokers: brokers, topic: E2E.inputTopic, chunk.map { ("", $0.payload) }, partition: p)
                    }
                case 1:
                    try await h.produce(brokers: brokers, topic: E2E.inputTopic, chunk.map { ("wrong-\($0.team ?? "none")", $0.payload) })
                default:
                    try await h.produce(brokers: brokers, topic: E2E.inputTopic, chunk.map { ($0.userId, $0.payload) })
                }
                last = try await Self.feed(h, brokers: brokers, [], sent: Array(events[..<range.upperBound]), watching: daemons)
            }
            for d in daemons { h.expect(try await h.stop(d) == 0, "daemon did not exit 0") }
            // Split instances publish again, with the same content, what they publish before a rebalance.
            try await Self.verify(h, brokers: brokers, events: events, lastAsOf: last, allowRepeats: mode == "split",
                                  "boards of unkeyed events (\(mode))")
        }
    }

    // MARK: - (e) one daemon per state directory

    @Test("a second daemon on a locked state directory exits 2 naming the holder's pid")
    func lockedStateDirectory() async throws {
        try await Harness.run("locked-state") { h in
            let (_, brokers) = try await h.startBroker(partitions: Self.partitions)
            let state = h.directory.appendingPathComponent("state")
            let first = try h.startDaemon(brokers: brokers, stateDirectory: state, settings: E2E.settings(topK: 8))
            try await h.waitUntil("the first daemon to start", alive: [first]) { first.stderr.contains("pipeline started") }
            let second = try h.startDaemon(brokers: brokers, stateDirectory: state, settings: E2E.settings(topK: 8))
            guard await second.waitForExit(timeout: .seconds(30)) else { throw h.fail("the second daemon is running on a locked state directory") }
            h.expect(second.exitStatus == 2, "second daemon exit \(second.exitStatus ?? -1), expected 2")
            h.expect(second.stderr.contains("pid \(first.pid)"), "the refusal does not name pid \(first.pid): \(second.stderr.suffix(800))")
            h.expect(first.isRunning, "the first daemon died")
            h.expect(try await h.stop(first) == 0, "first daemon did not exit 0")
        }
    }
}

/// Rewrites one header field of a stamped checkpoint and signs the header again (CRC-32 as zlib computes it).
func restamp(_ data: Data, field: String, value: String) throws -> [UInt8] {
    let bytes = [UInt8](data)
    guard let end = (1..<bytes.count).first(where: { bytes[$0] == 10 && bytes[$0 - 1] == 10 }) else { throw HarnessError("no header") }
    var lines = String(decoding: bytes[..<end], as: UTF8.self).split(separator: "\n").map(String.init)
    lines.removeLast()  // the old checksum
    lines = lines.map { $0.hasPrefix(field + "=") ? field + "=" + value : $0 }
    let signed = lines.joined(separator: "\n") + "\n"
    var crc: UInt32 = 0xFFFF_FFFF
    for b in signed.utf8 {
        crc ^= UInt32(b)
        for _ in 0..<8 { crc = (crc & 1) != 0 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
    }
    let header = signed + "header_crc32=" + String(crc ^ 0xFFFF_FFFF, radix: 16) + "\n\n"
    return Array(header.utf8) + bytes[(end + 1)...]
}

/// SHA-256 of `bytes` in hex, by `sha256sum` (an implementation independent of ours).
func sha256Hex(_ bytes: [UInt8]) -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    let input = Pipe(), output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    guard (try? process.run()) != nil else { return "sha256sum unavailable" }
    input.fileHandleForWriting.write(Data(bytes))
    try? input.fileHandleForWriting.close()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return String(text.prefix { !$0.isWhitespace })
}
