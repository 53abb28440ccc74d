import Foundation
import Testing

/// The walking skeleton end to end: the real `tokenwatch` executable (dev broker and daemon) and
/// `kcat`, talking the Kafka protocol over TCP, checked against a brute force of the contract.
@Suite(.serialized)
struct EndToEndTests {
    static let windows = ["1h@1m", "2h@5m", "24h@15m"]
    static let snapshotIntervalMs: Int64 = 120_000
    static let allowedLatenessMs: Int64 = 300_000
    static let inputTopic = "ai-usage"
    static let boardTopic = "tokenwatch.leaderboard"
    static let deadLetterTopic = "tokenwatch.deadletter"

    /// A 1 h idle timeout keeps every partition holding the watermark for the whole test, so the
    /// boards depend on the input only, never on the wall clock.
    static func settings(topK: Int, windows: [String] = windows, extra: [String: String] = [:]) -> [String: String] {
        var s = [
            "TOKENWATCH_ENGINE_IDLE_TIMEOUT": "1h",
            "TOKENWATCH_ENGINE_ALLOWED_LATENESS": "5m",
            "TOKENWATCH_LEADERBOARD_RANK_BY": "tokens",
            "TOKENWATCH_LEADERBOARD_TOP_K": "\(topK)",
            "TOKENWATCH_LEADERBOARD_SNAPSHOT_INTERVAL": "2m",
            "TOKENWATCH_WINDOWS": windows.joined(separator: ","),
            "TOKENWATCH_STATE_CHECKPOINT_INTERVAL": "2s",
            // Every team's board, as the brute force computes them (privacy has its own tests).
            "TOKENWATCH_PRIVACY_MIN_GROUP_SIZE": "1",
        ]
        for (k, v) in extra { s[k] = v }
        return s
    }

    static func text(_ e: UsageEvent) -> String { String(decoding: e.payload, as: UTF8.self) }

    /// Reads the input topic back, checks every record is keyed by its user id, and returns the
    /// newest snapshot time the watermark allows for it.
    static func lastAsOf(_ h: Harness, brokers: String, events: [UsageEvent], partitions: Int,
                         intervalMs: Int64 = snapshotIntervalMs) async throws -> Int64 {
        let input = try await h.consume(brokers: brokers, topic: inputTopic)
        h.expect(input.count == events.count, "input topic holds \(input.count) messages, produced \(events.count)")
        let byPayload = Dictionary(events.map { (text($0), $0) }, uniquingKeysWith: { a, _ in a })
        let unkeyed = input.filter { byPayload[$0.value]?.userId != $0.key }
        h.expect(unkeyed.isEmpty, "\(unkeyed.count) input messages not keyed by their user_id, e.g. \(unkeyed.first.map { "\($0.key): \($0.value)" } ?? "")")
        return try expectedLastAsOf(input: input, partitions: partitions, allowedLatenessMs: allowedLatenessMs,
                                    snapshotIntervalMs: intervalMs) { byPayload[$0]?.ts }
    }

    /// Polls the board topic until the board of `key` for `asOf` is there.
    static func waitForBoard(_ h: Harness, brokers: String, key: String = "1h|global", asOf: Int64, daemon: Child) async throws {
        try await h.waitUntil("board \(key) as of \(asOf) (\(rfc3339(asOf, fraction: false)))", alive: [daemon]) {
            let records = try await h.consume(brokers: brokers, topic: boardTopic)
            return try parseBoards(records.filter { $0.key == key }).contains { $0.asOf >= asOf }
        }
    }

    // MARK: - 1. Exact boards

    @Test("every entry of every board equals a brute force over the produced events")
    func exactBoardsEndToEnd() async throws {
        try await Harness.run("exact-boards") { h in
            let partitions = 4
            let (_, brokers) = try await h.startBroker(partitions: partitions)
            // 2025-03-09T22:40Z, ~3 h of event time across midnight UTC.
            let events = generateStream(seed: 7, start: 1_741_560_000_000, count: 3000)
            let daemon = try h.startDaemon(brokers: brokers, stateDirectory: h.directory.appendingPathComponent("state"),
                                           settings: Self.settings(topK: 10))
            // The live path: produced in chunks while the daemon runs, each chunk after the daemon has
            // published the boards the previous one allowed, so events keep arriving after snapshots
            // (into buckets at and past each window's end) instead of all in one first batch.
            let chunks = 6
            var lastAsOf = Int64.min
            for c in 0..<chunks {
                let chunk = events[(events.count * c / chunks)..<(events.count * (c + 1) / chunks)]
                try await h.produce(brokers: brokers, topic: Self.inputTopic, chunk.map { ($0.userId, $0.payload) })
                let sent = Array(events[..<(events.count * (c + 1) / chunks)])
                lastAsOf = try await Self.lastAsOf(h, brokers: brokers, events: sent, partitions: partitions)
                try await Self.waitForBoard(h, brokers: brokers, asOf: lastAsOf, daemon: daemon)
            }
            let status = try await h.stop(daemon)
            h.expect(status == 0, "tokenwatch run exited with \(status) after SIGTERM, expected 0")

            let boards = try parseBoards(try await h.consume(brokers: brokers, topic: Self.boardTopic))
            var brute = BruteForce(produced: events, windows: Self.windows, topK: 10, snapshotIntervalMs: Self.snapshotIntervalMs)
            h.expectNoProblems(brute.verify(boards, expectedLastAsOf: lastAsOf, allowRepeats: false), "boards vs brute force")

            // The data must exercise what it claims to, or the comparison above proves less.
            let duplicates = events.count - Set(events.map(\.eventId)).count
            h.expect(duplicates >= 50, "only \(duplicates) re-sent events in the test data")
            let ties = boards.filter { b in zip(b.entries, b.entries.dropFirst()).contains { $0.tokens == $1.tokens } }
            h.expect(ties.count >= 20, "only \(ties.count) boards with a rank tie: the user_id tie-break is barely tested")
            h.expect(boards.count >= 500, "only \(boards.count) boards")
            let onBoundary = brute.counted.filter { $0.ts % 60_000 == 0 }.count
            h.expect(onBoundary >= 20, "only \(onBoundary) events exactly on a minute boundary")
            let deadLetters = try await h.consume(brokers: brokers, topic: Self.deadLetterTopic)
            h.expect(deadLetters.isEmpty, "valid input was dead-lettered: \(deadLetters.prefix(3).map(\.value))")
        }
    }

    // MARK: - 2. Dead letters

    /// One message of the dead-letter test: produced to a fixed partition, at the offset of its index.
    struct Message {
        var key: String
        var bytes: [UInt8]
        /// The expected dead-letter reason; nil for a valid event.
        var reason: String?
        var event: UsageEvent?
    }

    @Test("each kind of bad input lands in the dead letter with its reason, partition, offset and bytes; good events around it count")
    func deadLetters() async throws {
        try await Harness.run("dead-letters") { h in
            let t: Int64 = 1_746_100_800_000  // 2025-05-01T12:00Z
            let windows = ["1h@1m", "24h@15m"]
            var p0: [Message] = []
            var p1: [Message] = []
            var serial = 0
            func good(_ list: inout [Message], _ user: String, _ ts: Int64, team: String = "core", id: String? = nil, input: Int64? = nil) {
                serial += 1
                let e = makeEvent(id: id ?? "good-\(serial)", ts: ts, user: user, team: team, input: input ?? Int64(100 + serial), output: 7)
                list.append(Message(key: user, bytes: e.payload, reason: nil, event: e))
            }
            func bad(_ list: inout [Message], _ reason: String, _ json: String) { badBytes(&list, reason, Array(json.utf8)) }
            func badBytes(_ list: inout [Message], _ reason: String, _ bytes: [UInt8]) {
                list.append(Message(key: "bad-\(list.count)", bytes: bytes, reason: reason, event: nil))
            }
            let rest = "\"input_tokens\":1,\"output_tokens\":1"

            good(&p0, "alice", t)
            good(&p0, "bob", t + 30_000)
            bad(&p0, "invalid_json", "not json at all")
            bad(&p0, "not_an_object", "[1,2,3]")
            bad(&p0, "missing_field:event_id", "{\"ts\":\(t),\"user_id\":\"alice\",\(rest)}")
            bad(&p0, "missing_field:ts", "{\"event_id\":\"m2\",\"user_id\":\"alice\",\(rest)}")
            bad(&p0, "missing_field:user_id", "{\"event_id\":\"m3\",\"ts\":\(t),\(rest)}")
            bad(&p0, "missing_field:input_tokens", "{\"event_id\":\"m4\",\"ts\":\(t),\"user_id\":\"alice\",\"output_tokens\":1}")
            bad(&p0, "missing_field:output_tokens", "{\"event_id\":\"m5\",\"ts\":\(t),\"user_id\":\"alice\",\"input_tokens\":1}")
            good(&p0, "alice", t + 60_000)
            bad(&p0, "wrong_type:input_tokens", "{\"event_id\":\"w1\",\"ts\":\(t),\"user_id\":\"alice\",\"input_tokens\":\"12\",\"output_tokens\":1}")
            bad(&p0, "wrong_type:user_id", "{\"event_id\":\"w2\",\"ts\":\(t),\"user_id\":42,\(rest)}")
            bad(&p0, "wrong_type:ts", "{\"event_id\":\"w3\",\"ts\":true,\"user_id\":\"alice\",\(rest)}")
            bad(&p0, "wrong_type:event_id", "{\"event_id\":[\"x\"],\"ts\":\(t),\"user_id\":\"alice\",\(rest)}")
            bad(&p0, "out_of_range:output_tokens", "{\"event_id\":\"n1\",\"ts\":\(t),\"user_id\":\"alice\",\"input_tokens\":1,\"output_tokens\":-3}")
            bad(&p0, "not_integer:input_tokens", "{\"event_id\":\"n2\",\"ts\":\(t),\"user_id\":\"alice\",\"input_tokens\":1.5,\"output_tokens\":1}")
            bad(&p0, "not_integer:output_tokens", "{\"event_id\":\"n3\",\"ts\":\(t),\"user_id\":\"alice\",\"input_tokens\":1,\"output_tokens\":2e3}")
            bad(&p0, "out_of_range:input_tokens", "{\"event_id\":\"n4\",\"ts\":\(t),\"user_id\":\"alice\",\"input_tokens\":1000000001,\"output_tokens\":1}")
            good(&p0, "carol", t + 90_000, input: 1_000_000_000)  // exactly 10^9 is allowed
            bad(&p0, "too_long:event_id", "{\"event_id\":\"\(String(repeating: "e", count: 129))\",\"ts\":\(t),\"user_id\":\"alice\",\(rest)}")
            good(&p0, "dave", t + 100_000, id: String(repeating: "i", count: 128))  // exactly 128 bytes is allowed
            bad(&p0, "too_long:user_id", "{\"event_id\":\"l2\",\"ts\":\(t),\"user_id\":\"\(String(repeating: "u", count: 257))\",\(rest)}")
            good(&p0, String(repeating: "u", count: 256), t + 110_000, team: "ops")  // exactly 256 bytes is allowed
            bad(&p0, "invalid_timestamp", "{\"event_id\":\"r1\",\"ts\":\"2025-13-45T99:00:00Z\",\"user_id\":\"alice\",\(rest)}")
            bad(&p0, "invalid_timestamp", "{\"event_id\":\"r2\",\"ts\":\"yesterday\",\"user_id\":\"alice\",\(rest)}")
            bad(&p0, "invalid_timestamp", "{\"event_id\":\"r3\",\"ts\":\"2025-05-01T12:00:00\",\"user_id\":\"alice\",\(rest)}")
            // Three hours ahead of when it is produced (its Kafka timestamp; max_future_skew is 1h).
            let threeHoursFromNow = Int64(Date().timeIntervalSince1970 * 1000) + 3 * 3_600_000
            bad(&p0, "future_timestamp", "{\"event_id\":\"f1\",\"ts\":\(threeHoursFromNow),\"user_id\":\"alice\",\(rest)}")
            // Valid JSON and a valid event, but over max_message_bytes (1024 in this test).
            bad(&p0, "message_too_large", "{\"event_id\":\"big\",\"ts\":\(t + 120_000),\"user_id\":\"alice\",\(rest),\"pad\":\"\(String(repeating: "a", count: 1100))\"}")
            for i in 0..<56 { good(&p0, ["alice", "bob", "erin"][i % 3], t + 120_000 + Int64(i) * 30_000) }
            // Three days behind its partition: no window that is still open can take it.
            bad(&p0, "late", "{\"event_id\":\"late1\",\"ts\":\(t - 3 * 86_400_000),\"user_id\":\"alice\",\(rest)}")
            for i in 0..<20 { good(&p0, ["alice", "bob"][i % 2], t + 1_800_000 + Int64(i) * 30_000) }

            good(&p1, "frank", t, team: "edge")
            bad(&p1, "invalid_json", "{\"event_id\":")
            var invalidUTF8 = Array("{\"event_id\":\"bad".utf8)
            invalidUTF8 += [0xFF, 0xFE]
            invalidUTF8 += Array("\",\"ts\":\(t),\"user_id\":\"frank\",\(rest)}".utf8)
            badBytes(&p1, "invalid_utf8", invalidUTF8)
            bad(&p1, "duplicate_field:ts", "{\"event_id\":\"d1\",\"ts\":\(t),\"ts\":\(t),\"user_id\":\"frank\",\(rest)}")
            bad(&p1, "empty:user_id", "{\"event_id\":\"d2\",\"ts\":\(t),\"user_id\":\"\",\(rest)}")
            bad(&p1, "missing_field:user_id", "{\"event_id\":\"d3\",\"ts\":\(t),\"user_id\":null,\(rest)}")
            bad(&p1, "out_of_range:cache_read_tokens", "{\"event_id\":\"d4\",\"ts\":\(t),\"user_id\":\"frank\",\(rest),\"cache_read_tokens\":-1}")
            bad(&p1, "wrong_type:outcome", "{\"event_id\":\"d5\",\"ts\":\(t),\"user_id\":\"frank\",\(rest),\"outcome\":\"yes\"}")
            bad(&p1, "out_of_range:ts", "{\"event_id\":\"d6\",\"ts\":253402300800000,\"user_id\":\"frank\",\(rest)}")
            // Strings that need escaping or are not ASCII: decoded on the way in, escaped on the way out,
            // ranked by UTF-8 bytes; `caf\u00e9` and `café` (and the emoji as a surrogate pair) are one user each.
            let tricky: [(user: String, json: String, key: String)] = [
                ("o\"brien", "o\\\"brien", "obrien"), ("back\\slash", "back\\\\slash", "backslash"),
                ("tab\there", "tab\\there", "tab-user"), ("café", "café", "cafe"), ("café", "caf\\u00e9", "cafe"),
                ("emoji😀", "emoji😀", "emoji"), ("emoji😀", "emoji\\ud83d\\ude00", "emoji"), ("Ωmega", "Ωmega", "omega"),
            ]
            for (i, u) in tricky.enumerated() {
                serial += 1
                let e = makeEvent(id: "intl-\(i)", ts: t + 60_000 + Int64(i) * 1000, user: u.user, team: "r&d \"lab\"",
                                  input: 300 + Int64(i % 3) * 50, output: 0, userJSON: u.json, teamJSON: "r&d \\\"lab\\\"")
                p1.append(Message(key: u.key, bytes: e.payload, reason: nil, event: e))
            }
            // After them in partition order: an event more than allowed_lateness behind its partition's newest
            // counts only in snapshots after that partition's watermark, so keep these in time order.
            for i in 0..<54 { good(&p1, ["frank", "gina"][i % 2], t + 45_000 + Int64(i) * 45_000, team: "edge") }

            let (_, brokers) = try await h.startBroker(partitions: 2)
            let started = Int64(Date().timeIntervalSince1970 * 1000)
            let daemon = try h.startDaemon(brokers: brokers, stateDirectory: h.directory.appendingPathComponent("state"),
                                           settings: Self.settings(topK: 10, windows: windows,
                                                                   extra: ["TOKENWATCH_ENGINE_MAX_MESSAGE_BYTES": "1024",
                                                                           "TOKENWATCH_LEADERBOARD_SNAPSHOT_INTERVAL": "1m"]))
            try await h.produce(brokers: brokers, topic: Self.inputTopic, p0.map { ($0.key, $0.bytes) }, partition: 0)
            try await h.produce(brokers: brokers, topic: Self.inputTopic, p1.map { ($0.key, $0.bytes) }, partition: 1)

            // Offsets on the fresh topic are the indexes in each list: check that before relying on it.
            let input = try await h.consume(brokers: brokers, topic: Self.inputTopic)
            let lists = [p0, p1]
            let placed = input.filter { r in Int(r.offset) < lists[Int(r.partition)].count && lists[Int(r.partition)][Int(r.offset)].key == r.key }
            try #require(placed.count == p0.count + p1.count && input.count == placed.count,
                         "input topic layout differs from what was produced: \(input.count) records, \(placed.count) where expected")
            let goodEvents = (p0 + p1).compactMap(\.event)
            let goodTs = Dictionary(goodEvents.map { (Self.text($0), $0.ts) }, uniquingKeysWith: { a, _ in a })
            let lastAsOf = try expectedLastAsOf(input: input, partitions: 2, allowedLatenessMs: Self.allowedLatenessMs,
                                                snapshotIntervalMs: 60_000) { goodTs[$0] }
            typealias Expected = (partition: Int32, offset: Int64, reason: String, bytes: [UInt8])
            var expected: [Expected] = []
            for (p, list) in lists.enumerated() {
                for (o, m) in list.enumerated() {
                    if let reason = m.reason { expected.append((Int32(p), Int64(o), reason, m.bytes)) }
                }
            }

            try await Self.waitForBoard(h, brokers: brokers, asOf: lastAsOf, daemon: daemon)
            try await h.waitUntil("\(expected.count) dead letters", alive: [daemon]) {
                try await h.consume(brokers: brokers, topic: Self.deadLetterTopic).count >= expected.count
            }
            let status = try await h.stop(daemon)
            h.expect(status == 0, "tokenwatch run exited with \(status) after SIGTERM, expected 0")
            let finished = Int64(Date().timeIntervalSince1970 * 1000)

            var problems: [String] = []
            var published: [String: [String: Any]] = [:]
            for r in try await h.consume(brokers: brokers, topic: Self.deadLetterTopic) {
                guard let o = try? JSONSerialization.jsonObject(with: Data(r.value.utf8)) as? [String: Any] else {
                    problems.append("dead letter at \(r.partition)/\(r.offset) is not a JSON object: \(r.value.prefix(200))")
                    continue
                }
                let id = "\((o["partition"] as? NSNumber)?.intValue ?? -1)/\((o["offset"] as? NSNumber)?.int64Value ?? -1)"
                if published[id] != nil { problems.append("dead letter for input \(id) published twice") }
                published[id] = o
            }
            for e in expected {
                let id = "\(e.partition)/\(e.offset)"
                guard let o = published.removeValue(forKey: id) else {
                    problems.append("no dead letter for input \(id) (expected \(e.reason)): \(String(decoding: e.bytes.prefix(120), as: UTF8.self))")
                    continue
                }
                if o["schema"] as? String != "tokenwatch.deadletter.v1" { problems.append("\(id): schema \(o["schema"] ?? "nil")") }
                if o["reason"] as? String != e.reason { problems.append("\(id): reason \(o["reason"] ?? "nil"), expected \(e.reason)") }
                if o["topic"] as? String != Self.inputTopic { problems.append("\(id): topic \(o["topic"] ?? "nil")") }
                let payload = (o["payload_base64"] as? String).flatMap { Data(base64Encoded: $0) }
                if payload.map(Array.init) != e.bytes { problems.append("\(id): payload_base64 does not decode to the bytes produced") }
                let receivedAt = (o["received_at"] as? NSNumber)?.int64Value ?? 0
                if receivedAt < started - 5_000 || receivedAt > finished + 5_000 {
                    problems.append("\(id): received_at \(receivedAt) is not the wall-clock time of the test run")
                }
            }
            for (id, o) in published { problems.append("unexpected dead letter for input \(id): reason \(o["reason"] ?? "nil")") }
            h.expectNoProblems(problems, "dead letters")

            // The daemon kept going: every good event, including those after each bad one, is on the boards.
            let boards = try parseBoards(try await h.consume(brokers: brokers, topic: Self.boardTopic))
            var brute = BruteForce(produced: goodEvents, windows: windows, topK: 10, snapshotIntervalMs: 60_000)
            h.expectNoProblems(brute.verify(boards, expectedLastAsOf: lastAsOf, allowRepeats: false), "boards vs brute force")
            let intl = boards.filter { $0.scope == "team:r&d \"lab\"" }.max { $0.asOf < $1.asOf }
            h.expect(intl?.entries.map(\.userId) == ["emoji😀", "café", "tab\there", "back\\slash", "Ωmega", "o\"brien"],
                     "newest board of team r&d \"lab\": \(intl.map { "\($0.entries)" } ?? "none")")
            let longUser = String(repeating: "u", count: 256)
            h.expect(boards.contains { $0.entries.contains { $0.userId == longUser } }, "the 256-byte user_id never reached a board")
        }
    }

    // MARK: - 3. Restart

    @Test("SIGTERM and restart with the same state dir and group: every board before and after is exact, nothing counted twice")
    func restartAfterSIGTERM() async throws {
        try await restart(stoppingWith: SIGTERM)
    }

    @Test("kill -9 and restart: boards replayed after the last checkpoint repeat byte for byte, nothing counted twice")
    func restartAfterSIGKILL() async throws {
        try await restart(stoppingWith: SIGKILL)
    }

    /// Produces part of a stream, runs the daemon until its boards are out, stops it with `signal`,
    /// produces the rest (starting with re-sent events of the first part), runs it again with the
    /// same group and state directory, and checks every board of both runs against the brute force.
    func restart(stoppingWith signal: Int32) async throws {
        let graceful = signal == SIGTERM
        try await Harness.run(graceful ? "restart-sigterm" : "restart-sigkill") { h in
            let partitions = 4
            let (_, brokers) = try await h.startBroker(partitions: partitions)
            // 2025-07-14T08:00Z.
            let events = generateStream(seed: graceful ? 11 : 12, start: 1_752_480_000_000, count: 2000)
            let split = events.count * 6 / 10
            let first = Array(events[..<split])
            // The second part starts with re-sent events of the first: the restored dedup memory must catch them.
            let resent = stride(from: split - 400, to: split, by: 23).map { events[$0] }
            let second = resent + events[split...]
            let state = h.directory.appendingPathComponent("state")

            // For the kill: checkpoints every 8 s, the first chunk's state checkpointed, the second chunk's
            // boards published, then kill -9 well before the next checkpoint. The restarted daemon must
            // restore the first chunk and replay the second, repeating its boards.
            let checkpoint = state.appendingPathComponent("engine.checkpoint")
            let run1 = try h.startDaemon(brokers: brokers, stateDirectory: state,
                                         settings: Self.settings(topK: 8, extra: graceful ? [:] : ["TOKENWATCH_STATE_CHECKPOINT_INTERVAL": "8s"]))
            var firstAsOf = Int64.min
            var checkpointedAt: Date?
            for (i, range) in [0..<(split / 2), (split / 2)..<split].enumerated() {
                if i == 1 && !graceful {
                    try await h.waitUntil("the first checkpoint", timeout: .seconds(30), alive: [run1]) {
                        FileManager.default.fileExists(atPath: checkpoint.path)
                    }
                    checkpointedAt = try FileManager.default.attributesOfItem(atPath: checkpoint.path)[.modificationDate] as? Date
                }
                try await h.produce(brokers: brokers, topic: Self.inputTopic, first[range].map { ($0.userId, $0.payload) })
                firstAsOf = try await Self.lastAsOf(h, brokers: brokers, events: Array(first[..<range.upperBound]), partitions: partitions)
                try await Self.waitForBoard(h, brokers: brokers, asOf: firstAsOf, daemon: run1)
            }
            let status1 = try await h.stop(run1, signal: signal)
            if let checkpointedAt {
                let now = try FileManager.default.attributesOfItem(atPath: checkpoint.path)[.modificationDate] as? Date
                if now != checkpointedAt { print("restart after kill: a checkpoint landed after the second chunk; the replay path ran less") }
            }
            if graceful {
                h.expect(status1 == 0, "first run exited with \(status1) after SIGTERM, expected 0")
            }
            let boardsBefore = try parseBoards(try await h.consume(brokers: brokers, topic: Self.boardTopic))
            h.expect(boardsBefore.map(\.asOf).max() == firstAsOf,
                     "first run's newest board is as of \(boardsBefore.map(\.asOf).max() ?? 0), expected \(firstAsOf)")

            try await h.produce(brokers: brokers, topic: Self.inputTopic, second.map { ($0.userId, $0.payload) })
            let lastAsOf = try await Self.lastAsOf(h, brokers: brokers, events: first + second, partitions: partitions)
            let run2 = try h.startDaemon(brokers: brokers, stateDirectory: state, settings: Self.settings(topK: 8))
            try await Self.waitForBoard(h, brokers: brokers, asOf: lastAsOf, daemon: run2)
            let status2 = try await h.stop(run2)
            h.expect(status2 == 0, "second run exited with \(status2) after SIGTERM, expected 0")

            let boards = try parseBoards(try await h.consume(brokers: brokers, topic: Self.boardTopic))
            h.expect(boards.count > boardsBefore.count, "the second run published no boards")
            var brute = BruteForce(produced: first + second, windows: Self.windows, topK: 8, snapshotIntervalMs: Self.snapshotIntervalMs)
            // A graceful stop commits everything it published, so only a kill may repeat boards.
            h.expectNoProblems(brute.verify(boards, expectedLastAsOf: lastAsOf, allowRepeats: !graceful),
                               "boards across the restart vs brute force")
            let repeats = boards.count - Set(boards.map(\.id)).count
            print("restart after signal \(signal): \(boards.count) boards, \(repeats) repeated (key, as_of) with identical content")
        }
    }

    // MARK: - Idle partitions

    @Test("a partition without events stops holding the boards back after engine.idle_timeout")
    func idlePartitionDoesNotStallBoards() async throws {
        try await Harness.run("idle-partition") { h in
            let partitions = 4
            let (_, brokers) = try await h.startBroker(partitions: partitions)
            // 2025-09-02T09:00Z; partition 3 gets nothing.
            let events = generateStream(seed: 5, start: 1_756_803_600_000, count: 600)
            func partition(of user: String) -> Int32 { Int32(user.utf8.reduce(0) { $0 + Int($1) } % 3) }
            var newest: [Int32: Int64] = [:]
            for p in Int32(0)..<3 {
                let mine = events.filter { partition(of: $0.userId) == p }
                try #require(!mine.isEmpty, "test data has no user for partition \(p)")
                newest[p] = mine.map(\.ts).max()!
                try await h.produce(brokers: brokers, topic: Self.inputTopic, mine.map { ($0.userId, $0.payload) }, partition: p)
            }
            let started = ContinuousClock.now
            let daemon = try h.startDaemon(brokers: brokers, stateDirectory: h.directory.appendingPathComponent("state"),
                                           settings: Self.settings(topK: 10, extra: ["TOKENWATCH_ENGINE_IDLE_TIMEOUT": "2s"]))
            // Once partition 3 is idle the watermark is the minimum over the others; once all are
            // quiet it is the highest one, then advances with the wall clock.
            let interval = Self.snapshotIntervalMs
            let atLeast = floorDivide(newest.values.max()! - Self.allowedLatenessMs, interval) * interval
            try await Self.waitForBoard(h, brokers: brokers, asOf: atLeast, daemon: daemon)
            let status = try await h.stop(daemon)
            h.expect(status == 0, "tokenwatch run exited with \(status) after SIGTERM, expected 0")
            let elapsedMs = Int64((ContinuousClock.now - started) / .milliseconds(1))

            let boards = try parseBoards(try await h.consume(brokers: brokers, topic: Self.boardTopic))
            let last = boards.map(\.asOf).max() ?? .min
            let atMost = floorDivide(newest.values.max()! - Self.allowedLatenessMs + elapsedMs, interval) * interval
            h.expect(last >= atLeast && last <= atMost, "newest board as of \(last), expected within [\(atLeast), \(atMost)]")
            var brute = BruteForce(produced: events, windows: Self.windows, topK: 10, snapshotIntervalMs: interval)
            h.expectNoProblems(brute.verify(boards, expectedLastAsOf: last, allowRepeats: false), "boards vs brute force")
        }
    }

    // MARK: - 4. The CLI around the daemon

    @Test("`tokenwatch leaderboard --json` prints the latest board, the same as kcat's last message for the key")
    func leaderboardCommandMatchesTopic() async throws {
        try await Harness.run("leaderboard-cli") { h in
            let partitions = 3
            let (broker, brokers) = try await h.startBroker(partitions: partitions)
            // 2025-09-02T09:00Z.
            let events = generateStream(seed: 3, start: 1_756_803_600_000, count: 400)
            try await h.produce(brokers: brokers, topic: Self.inputTopic, events.map { ($0.userId, $0.payload) })
            let lastAsOf = try await Self.lastAsOf(h, brokers: brokers, events: events, partitions: partitions)
            let daemon = try h.startDaemon(brokers: brokers, stateDirectory: h.directory.appendingPathComponent("state"),
                                           settings: Self.settings(topK: 5))
            try await Self.waitForBoard(h, brokers: brokers, asOf: lastAsOf, daemon: daemon)
            let status = try await h.stop(daemon)
            h.expect(status == 0, "tokenwatch run exited with \(status) after SIGTERM, expected 0")

            let records = try await h.consume(brokers: brokers, topic: Self.boardTopic)
            let boards = try parseBoards(records)
            var brute = BruteForce(produced: events, windows: Self.windows, topK: 5, snapshotIntervalMs: Self.snapshotIntervalMs)
            h.expectNoProblems(brute.verify(boards, expectedLastAsOf: lastAsOf, allowRepeats: false), "boards vs brute force")

            for (window, scope) in [("1h", "global"), ("24h", "team:ml")] {
                let key = "\(window)|\(scope)"
                let latest = try #require(boards.filter { $0.key == key }.max { $0.offset < $1.offset }, "no board for \(key)")
                let cli = try await h.runTool("leaderboard", h.tokenwatch,
                                              ["leaderboard", "--brokers", brokers, "--window", window, "--scope", scope, "--json"])
                h.expect(cli.exitStatus == 0, "tokenwatch leaderboard exited with \(cli.exitStatus ?? -1): \(cli.stderr)")
                let lines = cli.stdout.split(separator: "\n")
                h.expect(lines.count == 1, "tokenwatch leaderboard --window \(window) --scope \(scope) printed \(lines.count) lines, expected 1")
                let printed = lines.first.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                h.expect(printed.map { NSDictionary(dictionary: $0).isEqual(to: latest.object) } == true,
                         "tokenwatch leaderboard printed\n  \(lines.first ?? "nothing")\nbut kcat's last \(key) message is\n  \(latest.raw)")
                h.expect(latest.asOf == lastAsOf, "latest \(key) is as of \(latest.asOf), expected \(lastAsOf)")
            }
            let brokerStatus = try await h.stop(broker, timeout: .seconds(15))
            h.expect(brokerStatus == 0, "dev-broker exited with \(brokerStatus) after SIGTERM, expected 0")
        }
    }

    @Test("`tokenwatch check-config` (and `run`) exit 2 naming the bad key; 0 for config/tokenwatch.yaml")
    func checkConfig() async throws {
        try await Harness.run("check-config") { h in
            let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            let example = repository.appendingPathComponent("config/tokenwatch.yaml")
            let ok = try await h.runTool("check-config", h.tokenwatch, ["check-config", example.path])
            h.expect(ok.exitStatus == 0, "check-config \(example.path) exited with \(ok.exitStatus ?? -1): \(ok.stderr)")

            let cases: [(yaml: String, key: String)] = [
                ("leaderboard:\n  top_k: 0\n", "leaderboard.top_k"),
                ("engine:\n  allowed_latenes: 5m\n", "engine.allowed_latenes"),
                ("engine:\n  idle_timeout: soon\n", "engine.idle_timeout"),
                ("windows: [\"1h@7m\"]\n", "windows"),
            ]
            for (i, c) in cases.enumerated() {
                let file = h.directory.appendingPathComponent("bad-\(i).yaml")
                try Data(c.yaml.utf8).write(to: file)
                let run = try await h.runTool("check-config", h.tokenwatch, ["check-config", file.path])
                h.expect(run.exitStatus == 2, "check-config of \(c.yaml.debugDescription) exited with \(run.exitStatus ?? -1), expected 2")
                h.expect(run.stderr.contains(c.key), "check-config of \(c.yaml.debugDescription) does not name \(c.key): \(run.stderr)")
            }
            // The daemon itself refuses a bad value from the environment the same way, before connecting anywhere.
            let run = try await h.runTool("run-bad-env", h.tokenwatch,
                                          ["run", "--config", h.emptyConfig.path, "--brokers", "127.0.0.1:9",
                                           "--state-dir", h.directory.appendingPathComponent("state").path],
                                          environment: h.environment(["TOKENWATCH_LEADERBOARD_TOP_K": "0"]), timeout: .seconds(20))
            h.expect(run.exitStatus == 2, "tokenwatch run with TOKENWATCH_LEADERBOARD_TOP_K=0 exited with \(run.exitStatus ?? -1), expected 2")
            h.expect(run.stderr.contains("leaderboard.top_k") || run.stderr.contains("TOKENWATCH_LEADERBOARD_TOP_K"),
                     "tokenwatch run does not name the bad key: \(run.stderr)")
        }
    }
}
