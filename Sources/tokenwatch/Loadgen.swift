import ArgumentParser
import Foundation
import Kafka
import Logging
import TokenwatchCore
import TokenwatchService
import TokenwatchSimulation

struct Loadgen: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Produce synthetic AI-usage events (deterministic with --seed).")

    @OptionGroup var kafka: KafkaClientOptions
    @Option(help: "Write the events as JSON lines to this file instead of producing them.") var file: String?
    @Option(help: "Topic to produce to (default: kafka.input_topic).") var topic: String?
    @Option(help: "Number of users.") var users = 200
    @Option(help: "Number of events to produce.") var events: Int?
    @Option(help: "Produce for this many seconds (with --rate).") var duration: Double?
    @Option(help: "Events per second (default: as fast as possible).") var rate: Double?
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: ArgumentHelp(
        "Traffic scenario (default mixed): regular, mixed, or one persona for everyone.",
        discussion: "regular: each event a random regular developer at the given time (the classic stream). mixed and the personas (\(SyntheticPopulation.scenarios.filter { $0 != "mixed" && $0 != "regular" }.joined(separator: ", "))) follow each user's own simulated timeline from --start over --span; without --start the span ends now."))
    var scenario = "mixed"
    @Option(help: "Write the ground truth (user → persona) as JSON here.") var labels: String?
    @Option(help: "Event time of the first event (RFC 3339 or epoch ms); default: the wall clock at each event (regular), or now minus --span (other scenarios).") var start: String?
    @Option(help: "Event-time span the events cover when --start is given, or the simulated span of a persona scenario (e.g. 6h, 7d).") var span = "1h"
    @Flag(help: "Persona scenarios: hold each event until the wall clock reaches its event time, so the part of --start/--span still ahead is produced as it happens (what alert latency is measured on).")
    var realtime = false

    func validate() throws {
        if scenario == "regular" {
            if events == nil && duration == nil { throw ValidationError("give --events N or --duration SEC") }
        }
        if kafka.brokers != nil && file != nil { throw ValidationError("give --brokers B (or a configuration) or --file PATH, not both") }
        if duration != nil && rate == nil && events == nil { throw ValidationError("--duration needs --rate") }
        if scenario != "regular" && !SyntheticPopulation.scenarios.contains(scenario) {
            throw ValidationError("unknown scenario '\(scenario)' (available: regular, \(SyntheticPopulation.scenarios.joined(separator: ", ")))")
        }
        if DurationText.parse(span) == nil { throw ValidationError("--span '\(span)' is not a duration") }
        if realtime && scenario == "regular" { throw ValidationError("--realtime is for persona scenarios; regular events without --start already carry the wall clock") }
    }

    func run() throws {
        // Loaded before the first logger, so that logging.* applies.
        let k = try kafka.load().kafka
        let logger = makeLogger("tokenwatch.loadgen")
        let output: GeneratedEventOutput
        do {
            if let file {
                output = try GeneratedEventOutput(file: file)
            } else {
                // The configured cluster, with its librdkafka properties (security protocol, SASL, TLS).
                output = try GeneratedEventOutput(properties: k.clientProperties(defaults: ["linger.ms": "20"]),
                                                  topic: topic ?? k.inputTopic, logger: logger)
            }
        } catch {
            FileHandle.standardError.write(Data("tokenwatch loadgen: \(error)\n".utf8))
            throw Exit.runtime
        }
        let began = WallClock.monotonicMs()
        var sent = 0
        /// Sends one event, pacing to --rate when given.
        func send(_ key: String, _ value: [UInt8]) throws {
            try output.send(key: key, value: value)
            sent += 1
            if let rate, sent % 100 == 0 {
                let due = began + Int64(Double(sent) / rate * 1000)
                let now = WallClock.monotonicMs()
                if due > now { usleep(UInt32((due - now) * 1000)) }
            }
        }
        if scenario == "regular" {
            // Each event a random regular developer, at --start + i/N of --span, or at the wall clock.
            let total = events ?? Int((duration ?? 0) * (rate ?? 0))
            var traffic = SyntheticTraffic(users: users, seed: seed)
            if let labels { try Data(traffic.labelsJSON()).write(to: URL(fileURLWithPath: labels)) }
            let startMs = try start.map(parseTime)
            let spanMs = DurationText.parse(span)!
            for i in 0..<total {
                let ts = startMs.map { $0 + Int64(Double(spanMs) * Double(i) / Double(max(total, 1))) } ?? WallClock.nowMs()
                let (key, value) = traffic.next(ts: ts)
                try send(key, value)
            }
        } else {
            // A persona scenario: every user's simulated timeline over --span, in event-time order.
            let spanMs = DurationText.parse(span)!
            let day: Int64 = 86_400_000
            let startMs = try start.map(parseTime) ?? (WallClock.nowMs() - spanMs) / 60_000 * 60_000
            let endMs = startMs + spanMs
            var population = try SyntheticPopulation(scenario: scenario, users: users, seed: seed, start: startMs,
                                                     days: Int((spanMs + day - 1) / day))
            if let labels { try Data(population.labelsJSON()).write(to: URL(fileURLWithPath: labels)) }
            let limit = events ?? duration.map { Int($0 * (rate ?? 0)) } ?? Int.max
            outer: while let batch = population.nextDay() {
                for e in batch {
                    if sent >= limit || e.ts >= endMs { break outer }
                    if realtime { waitForWallClock(e.ts) }
                    let (key, value) = population.encode(e)
                    try send(key, value)
                }
            }
        }
        let failed = try output.finish()
        if file == nil, let dropped = DevBrokerRetention.dropped(properties: k.clientProperties(defaults: [:]), topics: [topic ?? k.inputTopic],
                                                                 logger: logger) {
            var known: [String: Int64] = [:]
            DevBrokerRetention.warn(dropped, known: &known, logger: logger)
        }
        let seconds = Double(WallClock.monotonicMs() - began) / 1000
        logger.info("loadgen done", metadata: ["scenario": "\(scenario)", "events": "\(sent)", "failed": "\(failed)", "seconds": "\(seconds)"])
        if failed > 0 { throw Exit.runtime }
    }
}

/// Sleeps until the wall clock reaches `eventTime` (epoch ms).
private func waitForWallClock(_ eventTime: Int64) {
    while true {
        let ahead = eventTime - WallClock.nowMs()
        if ahead <= 0 { return }
        usleep(UInt32(min(ahead, 1_000) * 1_000))
    }
}

/// Where `loadgen` puts its events: a JSON-lines file, or a topic keyed by user id.

final class GeneratedEventOutput {
    private let producer: KafkaProducer?
    private let file: FileHandle?
    private let topic: String
    private var buffer: [UInt8] = []
    private var token: UInt64 = 0
    private var failed = 0

    /// Writes JSON lines to the file at `path`.
    init(file path: String) throws {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        guard let h = FileHandle(forWritingAtPath: path) else { throw ValidationError("cannot write \(path)") }
        file = h
        producer = nil
        topic = ""
    }

    /// Produces to `topic` with a producer of these librdkafka `properties`.
    init(properties: [String: String], topic: String, logger: Logger) throws {
        self.topic = topic
        file = nil
        producer = try KafkaProducer(configuration: properties, logger: logger)
    }

    func send(key: String, value: [UInt8]) throws {
        if let file {
            buffer.append(contentsOf: value)
            buffer.append(0x0A)
            if buffer.count > 1 << 20 { try file.write(contentsOf: buffer); buffer.removeAll(keepingCapacity: true) }
            return
        }
        guard let producer else { return }
        token += 1
        failed += try producer.produceWaiting(topic: topic, key: Array(key.utf8), value: value, token: token)
    }

    /// Flushes everything; returns how many events the broker did not take.
    func finish() throws -> Int {
        if let file {
            try file.write(contentsOf: buffer)
            try file.close()
            return 0
        }
        guard let producer else { return 0 }
        failed += producer.drainDeliveries()
        return failed
    }
}

