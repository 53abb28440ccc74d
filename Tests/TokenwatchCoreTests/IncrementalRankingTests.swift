import Testing
@testable import TokenwatchCore

/// The boards' incremental ranking (`BoardRanking`, `Engine.partialBoards`) against a full recomputation
/// (`Engine.buildPartials`) at every snapshot time of random streams.
@Suite("Incremental ranking")
struct IncrementalRankingTests {
    static let t0: Int64 = 1_795_555_200_000

    static func config(rankBy: RankBy, topK: Int) -> EngineConfiguration {
        var c = EngineConfiguration()
        c.windows = [
            WindowSpec(name: "10m", lengthMs: 600_000, stepMs: 60_000),
            WindowSpec(name: "1h", lengthMs: 3_600_000, stepMs: 300_000),
        ]
        c.snapshotIntervalMs = 60_000
        c.allowedLatenessMs = 300_000
        c.maxFutureSkewMs = 86_400_000
        c.knownUsersHorizonMs = 2 * 86_400_000
        c.topK = topK
        c.rankBy = rankBy
        return c
    }

    /// One partition's events: few token sizes (many ties), names that tie-break byte-wise (`u1` < `u10` < `u1x`),
    /// users that change teams, bursts, and quiet gaps long enough for buckets to expire and users to go inactive.
    static func stream(seed: UInt64, users: Int, events: Int) -> [TestEvent] {
        var rng = SplitMix64(seed: seed)
        let teams = ["alpha", "beta", "gamma", "delta", "epsilon"]
        let names = (0..<users).map { i in i % 3 == 2 ? "u\(i / 3)x" : "u\(i)" }
        var ts = t0
        var out: [TestEvent] = []
        for n in 0..<events {
            ts += Int64(rng.next() % 15_000)
            if rng.next() % 60 == 0 { ts += Int64(rng.next() % 1_800_000) }
            let u = Int(rng.next() % UInt64(rng.next() % 4 == 0 ? users : max(users / 4, 1)))
            let team = rng.next() % 25 == 0 ? teams[Int(rng.next() % 5)] : teams[u % 4]
            let tokens = Int64(rng.next() % 4) * 50
            out.append(TestEvent(id: "e\(n)", ts: ts - Int64(rng.next() % 200_000), user: names[u], team: team,
                                 input: tokens, output: 0, accepted: rng.next() % 2 == 0, commits: Int64(rng.next() % 2)))
        }
        return out
    }

    /// Emits every due snapshot one at a time, comparing each window's boards with a full recomputation.
    static func snapshotChecking(_ engine: inout Engine) -> Int {
        guard let w = engine.currentWatermark() else { return 0 }
        engine.watermark = max(engine.watermark, w)
        let interval = engine.configuration.snapshotIntervalMs
        if engine.lastSnapshotAt == nil {
            guard let first = engine.firstEventTime else { return 0 }
            engine.lastSnapshotAt = floorDiv(first, interval) * interval
        }
        var checked = 0
        while engine.lastSnapshotAt! + interval <= engine.watermark {
            engine.emitSnapshot(asOf: engine.lastSnapshotAt! + interval, previous: engine.lastSnapshotAt!)
            for i in engine.windows.indices {
                let incremental = engine.cachedPartials[i]!
                let full = engine.buildPartials(window: i)
                #expect(incremental == full, "window \(engine.windows[i].spec.name) at \(engine.lastSnapshotAt!)")
                if incremental != full { return checked }
            }
            checked += 1
        }
        _ = engine.takeOutputs()
        return checked
    }

    /// Between snapshots, what the rules' step does to a few users: new suspicion, reported as changed.
    static func shiftSuspicion(_ engine: inout Engine, _ rng: inout SplitMix64) {
        guard engine.users.count > 0 else { return }
        for _ in 0..<Int(rng.next() % 3) {
            let u = UInt32(rng.next() % UInt64(engine.users.count))
            engine.suspicion[Int(u)] = [0, 0.25, 0.5, 0.9, 1][Int(rng.next() % 5)]
            engine.detector.changedUsers.append(u)
            engine.detector.changed = true
        }
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func equalsFullRecomputation(seed: UInt64) throws {
        for rankBy in RankBy.allCases {
            for topK in [1, 3, 10] {
                var engine = Engine(configuration: Self.config(rankBy: rankBy, topK: topK))
                engine.assign(partitions: [0])
                var rng = SplitMix64(seed: seed &* 31)
                let events = Self.stream(seed: seed, users: 40, events: 2500)
                var snapshots = 0
                for (offset, e) in events.enumerated() {
                    engine.feed(e, partition: 0, offset: Int64(offset))
                    if rng.next() % 8 == 0 {
                        Self.shiftSuspicion(&engine, &rng)
                        snapshots += Self.snapshotChecking(&engine)
                    }
                    if offset == 1200 {
                        // A reload that changes the boards' size and order, then a restart from a checkpoint.
                        var c = Self.config(rankBy: rankBy == .tokens ? .outcomes : .tokens, topK: topK + 2)
                        c.detection = engine.configuration.detection
                        try engine.reconfigure(c)
                        snapshots += Self.snapshotChecking(&engine)
                        engine = try Engine(configuration: c, restoring: engine.checkpoint())
                    }
                }
                #expect(snapshots > 300)
                let rebuilds = engine.rankings.map(\.rebuilds).reduce(0, +)
                let scopes = engine.rankings.map(\.scopes.count).reduce(0, +)
                // The point of the structure: most snapshots rebuild nothing.
                #expect(rebuilds < snapshots * scopes / 4, "\(rebuilds) rebuilds in \(snapshots) snapshots")
            }
        }
    }

    /// The rules' own alerts (not injected suspicion) change flags, suspicion and effective figures:
    /// a machine-like user (one identical request every 30 s, day and night) among the random ones.
    @Test(arguments: [RankBy.effectiveTokens, .tokens])
    func equalsFullRecomputationWhileRulesFire(rankBy: RankBy) {
        var engine = Engine(configuration: Self.config(rankBy: rankBy, topK: 3))
        engine.assign(partitions: [0])
        var events = Self.stream(seed: 9, users: 30, events: 3000)
        let end = events.map(\.ts).max()!
        var n = 0
        for ts in stride(from: Self.t0, through: end, by: 30_000) {
            events.append(TestEvent(id: "bot\(n)", ts: ts, user: "bot", team: "alpha", input: 2_000, output: 500, accepted: true))
            n += 1
        }
        events.sort { $0.ts < $1.ts }
        var snapshots = 0
        for (offset, e) in events.enumerated() {
            engine.feed(e, partition: 0, offset: Int64(offset))
            if offset % 7 == 0 { snapshots += Self.snapshotChecking(&engine) }
        }
        #expect(snapshots > 300)
        #expect(engine.detector.counters.fired.values.reduce(0, +) > 0, "no rule fired: the test proves less")
    }

    @Test func forgettingAUserRebuildsExactly() {
        var engine = Engine(configuration: Self.config(rankBy: .effectiveTokens, topK: 3))
        engine.assign(partitions: [0])
        for (offset, e) in Self.stream(seed: 9, users: 20, events: 600).enumerated() {
            engine.feed(e, partition: 0, offset: Int64(offset))
            if offset == 300 { _ = engine.forget("u1") }
            if offset % 10 == 0 { _ = Self.snapshotChecking(&engine) }
        }
    }
}
