import Testing
@testable import TokenwatchCore

/// Producers that do not key by `user_id`: one event's copies on several partitions count once.
@Suite("Events not keyed by their user")
struct UnkeyedEventsTests {
    static let t0: Int64 = 1_795_219_200_000

    func feed(_ engine: inout Engine, _ e: TestEvent, partition: Int32, offset: Int64, key: String?) -> ProcessResult {
        var bytes = Array(e.json.utf8)
        var keyBytes = Array((key ?? "").utf8)
        return bytes.withUnsafeMutableBytes { payload in
            keyBytes.withUnsafeMutableBytes { k in
                engine.process(UnsafeRawBufferPointer(payload), partition: partition, offset: offset,
                               checkingKey: key == nil ? UnsafeRawBufferPointer(start: nil, count: 0) : UnsafeRawBufferPointer(k))
            }
        }
    }

    @Test("copies of one event with a null or wrong key on four partitions count once; keyed events are untouched")
    func copiesCountOnce() throws {
        var engine = Engine(configuration: EngineConfiguration())
        engine.assign(partitions: [0, 1, 2, 3])
        let e = TestEvent(id: "e1", ts: Self.t0, user: "alice", team: "t", input: 10, output: 5)
        #expect(feed(&engine, e, partition: 0, offset: 0, key: nil) == .counted)
        for p in Int32(1)...3 { #expect(feed(&engine, e, partition: p, offset: 0, key: nil) == .duplicate) }
        // A wrong key is no better than none.
        let f = TestEvent(id: "e2", ts: Self.t0 + 1, user: "alice", team: "t", input: 1, output: 1)
        #expect(feed(&engine, f, partition: 2, offset: 1, key: "team-t") == .counted)
        #expect(feed(&engine, f, partition: 3, offset: 1, key: "bob") == .duplicate)
        // Keyed by the user: per-partition memory as before (a different id on another partition counts).
        let g = TestEvent(id: "e3", ts: Self.t0 + 2, user: "alice", team: "t", input: 1, output: 1)
        #expect(feed(&engine, g, partition: 1, offset: 1, key: "alice") == .counted)
        // Partitions that carried only copies have still been read up to the copies' time.
        #expect(engine.partitionNewest[3] == Self.t0 + 1)
        #expect(engine.partitionNewest[1] == Self.t0 + 2)
        #expect(engine.counters.unkeyed == 2)
        #expect(engine.counters.duplicates == 4)

        // The memory survives a checkpoint.
        var restored = try Engine(configuration: EngineConfiguration(), restoring: engine.checkpoint())
        #expect(feed(&restored, e, partition: 2, offset: 5, key: nil) == .duplicate)
        let h = TestEvent(id: "e4", ts: Self.t0 + 3, user: "alice", team: "t", input: 1, output: 1)
        #expect(feed(&restored, h, partition: 2, offset: 6, key: nil) == .counted)
    }

    @Test("without key checks (nil) every valid event counts where it is, as file replays expect")
    func withoutKeyChecks() {
        var engine = Engine(configuration: EngineConfiguration())
        let e = TestEvent(id: "e1", ts: Self.t0, user: "alice", team: "t", input: 10, output: 5)
        #expect(engine.feed(e, partition: 0, offset: 0) == .counted)
        #expect(engine.feed(e, partition: 1, offset: 0) == .counted)
        #expect(engine.counters.unkeyed == 0)
    }
}
