import ArgumentParser
import Foundation
import TokenwatchCore
import TokenwatchService

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the core engine (decode + dedup + windows + boards) on one core, without Kafka.")

    @Option(help: "Events to process.") var events = 2_000_000
    @Option(help: "Distinct users.") var users = 100_000
    @Option(help: "Partitions the events are spread over (by user).") var partitions = 8
    @Option(help: "Event-time span the events cover.") var span = "24h"
    @Option(help: "Timed repetitions (the best is reported).") var repeats = 3
    @Option(help: "Seed.") var seed: UInt64 = 7

    func run() throws {
        guard let spanMs = DurationText.parse(span) else { throw ValidationError("--span is not a duration") }
        // Encode every message up front so only the engine is timed.
        var traffic = SyntheticTraffic(users: users, seed: seed)
        var buffer: [UInt8] = []
        var bounds: [(start: Int, count: Int, partition: Int32)] = []
        buffer.reserveCapacity(events * 330)
        let start: Int64 = 1_795_000_000_000
        var partitionOf: [String: Int32] = [:]
        for i in 0..<events {
            let (key, value) = traffic.next(ts: start + Int64(Double(spanMs) * Double(i) / Double(events)))
            let p = partitionOf[key] ?? { let v = Int32(truncatingIfNeeded: key.hashValue & 0x7fff_ffff) % Int32(partitions); partitionOf[key] = v; return v }()
            bounds.append((buffer.count, value.count, p))
            buffer.append(contentsOf: value)
        }
        print("bench: \(events) events, \(users) users, \(partitions) partitions, span \(span), \(buffer.count / max(events, 1)) bytes/event")
        var best = Double.infinity
        for round in 1...max(repeats, 1) {
            var engine = Engine(configuration: EngineConfiguration())
            engine.assign(partitions: (0..<Int32(partitions)).map { $0 })
            var offsets = Array(repeating: Int64(0), count: partitions)
            var outputs = 0
            let t0 = DispatchTime.now().uptimeNanoseconds
            buffer.withUnsafeBytes { all in
                for (i, b) in bounds.enumerated() {
                    let msg = UnsafeRawBufferPointer(rebasing: all[b.start..<(b.start + b.count)])
                    engine.process(msg, partition: b.partition, offset: offsets[Int(b.partition)])
                    offsets[Int(b.partition)] += 1
                    if i & 4095 == 0 {
                        engine.emitDueSnapshots()
                        outputs += engine.takeOutputs().count
                    }
                }
            }
            engine.emitDueSnapshots()
            outputs += engine.takeOutputs().count
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            best = min(best, seconds)
            print(String(format: "round %d: %.3f s, %.0f events/s, %d outputs, %d counted, %d duplicates, %d dead letters",
                         round, seconds, Double(events) / seconds, outputs, engine.counters.counted,
                         engine.counters.duplicates, engine.counters.deadLetterTotal))
        }
        print(String(format: "best: %.0f events/s", Double(events) / best))
    }
}
