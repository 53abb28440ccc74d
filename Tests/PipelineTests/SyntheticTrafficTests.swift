import Foundation
import Testing
@testable import TokenwatchCore
@testable import TokenwatchService
@testable import TokenwatchSimulation

@Suite("The regular synthetic stream")
struct SyntheticTrafficTests {
    /// Two days of the classic stream through the engine with the default rules: ordinary people on
    /// shifts, so `machine_cadence` (round the clock, or a steady beat) never fires for them.
    @Test func regularTrafficDoesNotTripMachineCadence() {
        var traffic = SyntheticTraffic(users: 60, seed: 5)
        var config = testEngineConfiguration()
        config.snapshotIntervalMs = 900_000
        var engine = Engine(configuration: config)
        engine.assign(partitions: [0])
        let start: Int64 = 1_795_392_000_000  // 2026-11-16T00:00Z
        let events = 40_000, span: Int64 = 2 * 86_400_000
        var alerts: [String] = []
        var activeHours: [String: Set<Int64>] = [:]
        for i in 0..<events {
            let ts = start + span * Int64(i) / Int64(events)
            let (key, value) = traffic.next(ts: ts)
            activeHours[key, default: []].insert(ts / 3_600_000 % 24)
            var bytes = value
            bytes.withUnsafeMutableBytes { _ = engine.process(UnsafeRawBufferPointer($0), partition: 0, offset: Int64(i)) }
            if i % 2_000 == 0 { engine.emitDueSnapshots(); alerts += Self.rules(engine.takeOutputs()) }
        }
        engine.emitDueSnapshots(idle: [0], quietAdvanceMs: 86_400_000)
        alerts += Self.rules(engine.takeOutputs())
        #expect(!alerts.contains("machine_cadence"), "machine_cadence fired \(alerts.filter { $0 == "machine_cadence" }.count) times")
        #expect(activeHours.values.allSatisfy { $0.count <= 10 }, "someone worked more than a 10-hour shift of the day")
    }

    static func rules(_ records: [OutputRecord]) -> [String] {
        records.filter { $0.kind == .alert }.map { PipelineControl.ruleName(ofAlert: $0.value) }
    }
}
