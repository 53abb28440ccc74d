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
