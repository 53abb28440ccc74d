import ArgumentParser
import Foundation
import TokenwatchCore
import TokenwatchService
import TokenwatchSimulation

/// Messages encoded up front into one buffer, each with its place and partition, so only the engine is timed.
struct BenchTraffic {
    var buffer: [UInt8] = []
    var bounds: [(start: Int, count: Int, partition: Int32)] = []
    let partitions: Int
    private var partitionOf: [String: Int32] = [:]

    var count: Int { bounds.count }

    private init(partitions: Int, events: Int) {
        self.partitions = partitions
        buffer.reserveCapacity(events * 330)
        bounds.reserveCapacity(events)
    }

    private mutating func add(_ key: String, _ value: [UInt8]) {
        let p = partitionOf[key] ?? {
            let v = Int32(Array(key.utf8).withUnsafeBytes { ByteHash.hash($0, seed: 42) } % UInt64(partitions))
            partitionOf[key] = v
            return v
        }()
        bounds.append((buffer.count, value.count, p))
        buffer.append(contentsOf: value)
    }

    /// A uniform stream of regular users over `spanMs`.
    static func regular(events: Int, users: Int, partitions: Int, spanMs: Int64, seed: UInt64) throws -> BenchTraffic {
        var out = BenchTraffic(partitions: partitions, events: events)
        var traffic = SyntheticTraffic(users: users, seed: seed)
        let start: Int64 = 1_795_000_000_000
        for i in 0..<events {
            let (key, value) = traffic.next(ts: start + Int64(Double(spanMs) * Double(i) / Double(events)))
            out.add(key, value)
        }
        return out
    }

    /// A simulate scenario's users on their own timelines over `spanMs`, cut at `events`.
    static func population(scenario: String, events: Int, users: Int, partitions: Int, spanMs: Int64, seed: UInt64) throws -> BenchTraffic {
        var out = BenchTraffic(partitions: partitions, events: events)
        let day: Int64 = 86_400_000
        var population = try SyntheticPopulation(scenario: scenario, users: users, seed: seed, start: 1_793_577_600_000,
                                                 days: Int((spanMs + day - 1) / day))
        outer: while let batch = population.nextDay() {
            for e in batch {
                if out.count >= events { break outer }
                let (key, value) = population.encode(e)
                out.add(key, value)
            }
        }
        return out
    }

    /// Calls `body` with each message in `range` of the traffic, and its partition.
    func forEach(in range: Range<Int>, _ body: (UnsafeRawBufferPointer, Int32) -> Void) {
        buffer.withUnsafeBytes { all in
            for i in range {
                let b = bounds[i]
                body(UnsafeRawBufferPointer(rebasing: all[b.start..<(b.start + b.count)]), b.partition)
            }
        }
    }
}

/// Feeds traffic through one engine on this thread, emitting snapshots every 4,096 events (as the
/// daemon does between batches), and keeps each partition's next offset.
struct BenchFeeder {
    var engine: Engine
    var offsets: [Int64]
    var outputs = 0
    /// Time spent emitting snapshots (boards, boundary rules, alerts), in nanoseconds.
    var inSnapshots: UInt64 = 0

    init(configuration: EngineConfiguration, partitions: Int) {
        engine = Engine(configuration: configuration)
        engine.assign(partitions: (0..<Int32(partitions)).map { $0 })
        offsets = Array(repeating: 0, count: partitions)
    }

    mutating func feed(_ traffic: BenchTraffic, _ range: Range<Int>) {
        var i = range.lowerBound
        traffic.forEach(in: range) { message, partition in
            engine.process(message, partition: partition, offset: offsets[Int(partition)])
            offsets[Int(partition)] += 1
            if i & 4095 == 0 { emitSnapshots() }
            i += 1
        }
    }

    mutating func emitSnapshots() {
        let s0 = DispatchTime.now().uptimeNanoseconds
        engine.emitDueSnapshots()
        outputs += engine.takeOutputs().count
        inSnapshots += DispatchTime.now().uptimeNanoseconds - s0
    }
}

/// One timed pass of the core engine over the traffic.
struct BenchRound {
    var seconds: Double
    var snapshotSeconds: Double
    var outputs: Int
    var engine: Engine

    /// The time outside snapshots: decode, dedup, windows, per-event rules.
    var perEventSeconds: Double { seconds - snapshotSeconds }

    static func run(_ traffic: BenchTraffic, configuration: EngineConfiguration) -> BenchRound {
        var feeder = BenchFeeder(configuration: configuration, partitions: traffic.partitions)
        let t0 = DispatchTime.now().uptimeNanoseconds
        feeder.feed(traffic, 0..<traffic.count)
        feeder.emitSnapshots()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        return BenchRound(seconds: seconds, snapshotSeconds: Double(feeder.inSnapshots) / 1e9, outputs: feeder.outputs, engine: feeder.engine)
    }
}

/// The engine's resident memory with many users, and how long a checkpoint stops consumption: the
/// daemon copies the engine (copy-on-write) and encodes the copy on another thread, so the loop pays
/// for every array it changes first afterwards. Run in a child process by `bench --targets`, so the
/// resident size is the engine's alone (the encoded traffic is measured before and subtracted).
enum MemoryProbe {
    struct Result {
        var users: Int
        var engineBytes: Int
        /// The batch of 4,096 events right after the checkpoint copy, copy included.
        var pauseMs: Double
        /// The batch before it.
        var batchMs: Double
        /// The engine's state by part (`Engine.stateFootprint`), as printed.
        var parts: [String] = []

        var line: String { "memory-probe users=\(users) engine_bytes=\(engineBytes) pause_ms=\(pauseMs) batch_ms=\(batchMs)" }

        init(users: Int, engineBytes: Int, pauseMs: Double, batchMs: Double) {
            self.users = users
            self.engineBytes = engineBytes
            self.pauseMs = pauseMs
            self.batchMs = batchMs
        }

        init(parsing text: String) throws {
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("memory-probe ") }) else {
                throw ValidationError("the memory probe printed no result")
            }
            var fields: [String: String] = [:]
            for pair in line.split(separator: " ").dropFirst() {
                let kv = pair.split(separator: "=", maxSplits: 1)
                if kv.count == 2 { fields[String(kv[0])] = String(kv[1]) }
            }
            guard let users = fields["users"].flatMap({ Int($0) }), let bytes = fields["engine_bytes"].flatMap({ Int($0) }),
                  let pause = fields["pause_ms"].flatMap({ Double($0) }), let batch = fields["batch_ms"].flatMap({ Double($0) })
            else { throw ValidationError("the memory probe's result is malformed: \(line)") }
            self.init(users: users, engineBytes: bytes, pauseMs: pause, batchMs: batch)
            parts = text.split(separator: "\n").filter { $0.hasPrefix("memory-part ") }.map { String($0.dropFirst("memory-part ".count)) }
        }
    }

    static func run(events: Int, users: Int) throws {
        let batch = 4_096
        guard events > 4 * batch else { throw ValidationError("--events must exceed \(4 * batch)") }
        let traffic = try BenchTraffic.regular(events: events, users: users, partitions: 8, spanMs: 86_400_000, seed: 11)
        let before = (PrometheusText.residentBytes() ?? 0)
        var feeder = BenchFeeder(configuration: EngineConfiguration(), partitions: traffic.partitions)
        let tail = events - 3 * batch
        feeder.feed(traffic, 0..<tail)
        feeder.emitSnapshots()
        let engineBytes = (PrometheusText.residentBytes() ?? 0) - before
        for (part, bytes) in feeder.engine.stateFootprint() {
            print(String(format: "memory-part %.0f MB %@", Double(bytes) / 1_048_576, part))
        }
        let batchMs = timeMs { feeder.feed(traffic, tail..<(tail + batch)); feeder.emitSnapshots() }
        // Two checkpoints, the second once the first's copy is gone (as every 30 s in the daemon): the
        // first copies land on fresh pages, later ones may reuse what the allocator kept.
        var pauses: [Double] = []
        for round in 1...2 {
            let start = tail + round * batch
            let written = DispatchSemaphore(value: 0)
            pauses.append(timeMs {
                let copy = CheckpointCopy(feeder.engine)
                Thread { copy.write(); written.signal() }.start()
                feeder.feed(traffic, start..<min(start + batch, events))
                feeder.emitSnapshots()
            })
            written.wait()
        }
        print("memory-probe-pauses first_ms=\(pauses[0]) next_ms=\(pauses[1])")
        let pauseMs = pauses.max()!
        print(Result(users: feeder.engine.users.count, engineBytes: engineBytes, pauseMs: pauseMs, batchMs: batchMs).line)
    }

    private static func timeMs(_ body: () -> Void) -> Double {
        let t0 = DispatchTime.now().uptimeNanoseconds
        body()
        return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6
    }
}

/// The engine copy a probe checkpoint encodes, dropped as soon as it is written (as the daemon's is).
private final class CheckpointCopy: @unchecked Sendable {
    // @unchecked Sendable: handed to exactly one writer thread, which alone touches it afterwards.
    private var engine: Engine?

    init(_ engine: Engine) { self.engine = engine }

    func write() {
        _ = engine?.checkpoint()
        engine = nil
    }
}
