import Foundation
import Testing

extension EndToEndTests {
    @Test("kill -9 three times at random moments while events flow: the boards equal an uninterrupted run's")
    func repeatedKillsWhileEventsFlow() async throws {
        try await Harness.run("repeated-sigkill") { h in
            let partitions = 4
            let (_, brokers) = try await h.startBroker(partitions: partitions)
            // 2025-08-04T06:00Z.
            let events = generateStream(seed: 31, start: 1_754_287_200_000, count: 3000)
            let chunks = stride(from: 0, to: events.count, by: 500).map { Array(events[$0..<min($0 + 500, events.count)]) }
            let state = h.directory.appendingPathComponent("state")
            let settings = Self.settings(topK: 8, extra: ["TOKENWATCH_STATE_CHECKPOINT_INTERVAL": "1s"])
            var rng = SystemRandomNumberGenerator()

            // Events arrive in chunks; after three of them, at a random moment while the daemon is still
            // consuming, publishing and checkpointing that chunk, it is killed and started again.
            var daemon = try h.startDaemon(brokers: brokers, stateDirectory: state, settings: settings)
            var kills: [Double] = []
            for (i, chunk) in chunks.enumerated() {
                try await h.produce(brokers: brokers, topic: Self.inputTopic, chunk.map { ($0.userId, $0.payload) })
                guard i % 2 == 1 else { continue }
                let delay = Double.random(in: 0.0...2.5, using: &rng)
                kills.append(delay)
                try await Task.sleep(for: .milliseconds(Int(delay * 1000)))
                daemon.killNow()
                daemon = try h.startDaemon(brokers: brokers, stateDirectory: state, settings: settings)
            }
            let lastAsOf = try await Self.lastAsOf(h, brokers: brokers, events: events, partitions: partitions)
            try await Self.waitForBoard(h, brokers: brokers, asOf: lastAsOf, daemon: daemon)
            let status = try await h.stop(daemon)
            h.expect(status == 0, "last run exited with \(status) after SIGTERM, expected 0")

            // Every board of every run equals the brute force over the input (what an uninterrupted run
            // publishes); a (key, as_of) published twice across a crash must be byte-identical.
            let boards = try parseBoards(try await h.consume(brokers: brokers, topic: Self.boardTopic))
            var brute = BruteForce(produced: events, windows: Self.windows, topK: 8, snapshotIntervalMs: Self.snapshotIntervalMs)
            h.expectNoProblems(brute.verify(boards, expectedLastAsOf: lastAsOf, allowRepeats: true), "boards across three kills vs brute force")
            let repeats = boards.count - Set(boards.map(\.id)).count
            print("repeated kill -9 after \(kills.map { String(format: "%.1f s", $0) }): \(boards.count) boards, \(repeats) repeated byte for byte")
        }
    }
}

extension EndToEndTests {
    @Test("kill -9 at random moments with rules firing: boards and alerts equal an uninterrupted replay's")
    func killsKeepBoardsAndAlerts() async throws {
        try await Harness.run("sigkill-alerts") { h in
            // 16 partitions: the boards of two days (~30 MB) must fit the dev broker's ~5 MB per partition.
            let partitions = 16
            let (_, brokers) = try await h.startBroker(partitions: partitions)
            // Two simulated days of a population with gaming personas (so rules fire), from loadgen.
            let events = h.directory.appendingPathComponent("events.jsonl")
            let gen = try await h.runTool("loadgen", h.tokenwatch, ["loadgen", "--scenario", "mixed", "--users", "60", "--span", "2d",
                                                                    "--start", "2026-11-16T00:00:00Z", "--seed", "8", "--file", events.path])
            h.expect(gen.exitStatus == 0, "loadgen failed")
            let lines = try String(contentsOf: events, encoding: .utf8).split(separator: "\n").map(String.init)
            func field(_ line: String, _ name: String) -> Any? {
                (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?[name]
            }
            let keyed = lines.map { (key: field($0, "user_id") as? String ?? "", value: Array($0.utf8)) }
            let chunks = stride(from: 0, to: keyed.count, by: 1500).map { Array(keyed[$0..<min($0 + 1500, keyed.count)]) }
            let settings = Self.settings(topK: 8, extra: ["TOKENWATCH_STATE_CHECKPOINT_INTERVAL": "1s"])
            let state = h.directory.appendingPathComponent("state")
            var rng = SystemRandomNumberGenerator()
            var daemon = try h.startDaemon(brokers: brokers, stateDirectory: state, settings: settings)
            for (i, chunk) in chunks.enumerated() {
                try await h.produce(brokers: brokers, topic: Self.inputTopic, chunk)
                guard i % 3 == 1 else { continue }
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...3000, using: &rng)))
                daemon.killNow()
                daemon = try h.startDaemon(brokers: brokers, stateDirectory: state, settings: settings)
            }
            let input = try await h.consume(brokers: brokers, topic: Self.inputTopic)
            let lastAsOf = try expectedLastAsOf(input: input, partitions: partitions, allowedLatenessMs: Self.allowedLatenessMs,
                                                snapshotIntervalMs: Self.snapshotIntervalMs) { (field($0, "ts") as? NSNumber)?.int64Value }
            try await Self.waitForBoard(h, brokers: brokers, asOf: lastAsOf, daemon: daemon)
            // Alerts of the last snapshot go out with its boards; stop gracefully so everything is flushed.
            let status = try await h.stop(daemon)
            h.expect(status == 0, "last run exited with \(status) after SIGTERM, expected 0")

            // The uninterrupted run: a replay of the same events, same settings, up to the same snapshot time.
            let out = h.directory.appendingPathComponent("replay")
            let replay = try await h.runTool("replay", h.tokenwatch, ["replay", "--input", events.path, "--partitions", "\(partitions)",
                                                                      "--to", "\(lastAsOf)", "--out", out.path, "--quiet"],
                                             environment: h.environment(settings), timeout: .seconds(120))
            h.expect(replay.exitStatus == 0, "replay failed")
            func unique(_ values: [String]) -> Set<String> { Set(values) }
            let liveBoards = try await h.consume(brokers: brokers, topic: Self.boardTopic).map(\.value)
            let replayBoards = try String(contentsOf: out.appendingPathComponent("leaderboard.jsonl"), encoding: .utf8)
                .split(separator: "\n").map(String.init)
            h.expect(unique(liveBoards) == unique(replayBoards),
                     "boards differ from the uninterrupted replay: \(unique(liveBoards).subtracting(replayBoards).count) only live, \(unique(replayBoards).subtracting(liveBoards).count) only replayed")
            // Alerts: the same ids and contents (apart from emitted_at); a repeat after a crash is the same message.
            func normalised(_ line: String) -> String {
                guard var o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return line }
                o["emitted_at"] = nil
                return String(decoding: (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])) ?? Data(), as: UTF8.self)
            }
            let liveAlerts = try await h.consume(brokers: brokers, topic: "tokenwatch.alerts").map { normalised($0.value) }
            let replayAlerts = try String(contentsOf: out.appendingPathComponent("alerts.jsonl"), encoding: .utf8)
                .split(separator: "\n").map { normalised(String($0)) }
            h.expect(!replayAlerts.isEmpty, "the simulated population raised no alert")
            h.expect(unique(liveAlerts) == unique(replayAlerts),
                     "alerts differ: \(unique(replayAlerts).subtracting(liveAlerts).count) lost, \(unique(liveAlerts).subtracting(replayAlerts).count) unexpected")
            print("kill -9 with rules: \(liveBoards.count) boards, \(liveAlerts.count) alert messages (\(unique(liveAlerts).count) distinct) vs replay \(replayAlerts.count)")
        }
    }
}
