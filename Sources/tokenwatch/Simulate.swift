import ArgumentParser
import Foundation
import TokenwatchConfig
import TokenwatchCore
import TokenwatchService
import TokenwatchSimulation

/// Buffered append-only output file.
final class OutputFile {
    let handle: FileHandle
    var buffer: [UInt8] = []

    init(_ path: String) throws {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        guard let h = FileHandle(forWritingAtPath: path) else { throw ValidationError("cannot write \(path)") }
        handle = h
        buffer.reserveCapacity(1 << 22)
    }

    func line(_ bytes: [UInt8]) {
        buffer.append(contentsOf: bytes)
        buffer.append(0x0A)
        if buffer.count >= 1 << 22 { flush() }
    }

    func flush() {
        handle.write(Data(buffer))
        buffer.removeAll(keepingCapacity: true)
    }

    func close() {
        flush()
        try? handle.close()
    }
}

struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a simulated population through the pure engine (no Kafka); write alerts and ground truth.",
        discussion: """
            Generates the scenario's users and their events in event time (deterministic per seed), feeds them through the same Engine as the daemon in per-partition order, and writes to --out: alerts.jsonl (every alert message, firing and resolved), labels.json (ground truth: user -> persona; score it with `tokenwatch evaluate`), events.jsonl with --write-events, leaderboard.jsonl (every board snapshot, large) with --write-boards.

            The default start is Monday 2026-11-02 00:00 UTC, so a 7-day run ends at the default weekly cutoff.
            """)

    @Option(help: "Scenario: mixed, or one persona for everyone (\(SyntheticPopulation.scenarios.joined(separator: ", "))).")
    var scenario = "mixed"
    @Option(help: "Number of users.") var users = 2_000
    @Option(help: "Simulated days.") var days = 7
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Output directory.") var out: String
    @Option(help: "Event time of the first day (RFC 3339 or epoch ms).") var start = "2026-11-02T00:00:00Z"
    @Option(help: "Configuration file (rules, thresholds, windows, weekly cutoff); default: the built-in defaults.")
    var config: String?
    @Option(help: "Partitions the users are spread over (by a hash of the user id).") var partitions = 8
    @Option(help: "Event time to run on after the last event, so quiet alerts can resolve.") var drain = "12h"
    @Flag(help: "Also write the input events to events.jsonl.") var writeEvents = false
    @Flag(help: "Also write every leaderboard snapshot to leaderboard.jsonl (large).") var writeBoards = false

    func validate() throws {
        if !SyntheticPopulation.scenarios.contains(scenario) {
            throw ValidationError("unknown scenario '\(scenario)' (available: \(SyntheticPopulation.scenarios.joined(separator: ", ")))")
        }
        if DurationText.parse(drain) == nil { throw ValidationError("--drain '\(drain)' is not a duration") }
        if partitions < 1 || users < 1 || days < 1 { throw ValidationError("--partitions, --users and --days must be positive") }
    }

    func run() throws {
        let configuration: TokenwatchConfiguration
        if let config {
            configuration = try loadConfiguration(path: config, overrides: [:])
        } else {
            configuration = TokenwatchConfiguration()
        }
        let startMs = try parseTime(start)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let began = DispatchTime.now().uptimeNanoseconds
        var population = try SyntheticPopulation(
            scenario: scenario, users: users, seed: seed, start: startMs, days: days,
            weeklyCutoffOffsetMs: configuration.leaderboard.weeklyCutoff.offsetInWeekMs)

        var engine = Engine(configuration: configuration.engine)
        let ids = (0..<Int32(partitions)).map { $0 }
        engine.assign(partitions: ids)
        let alerts = try OutputFile(out + "/alerts.jsonl")
        let events = writeEvents ? try OutputFile(out + "/events.jsonl") : nil
        let boards = writeBoards ? try OutputFile(out + "/leaderboard.jsonl") : nil
        var partitionOf: [Int32: Int32] = [:]
        var offsets = Array(repeating: Int64(0), count: partitions)
        var produced = 0
        var alertCount = 0

        func drainOutputs() {
            for record in engine.takeOutputs() {
                switch record.kind {
                case .alert:
                    alerts.line(record.value)
                    alertCount += 1
                case .leaderboard: boards?.line(record.value)
                case .deadLetter: break
                }
            }
        }

        var generating: UInt64 = 0  // time spent generating and encoding events
        while true {
            let g0 = DispatchTime.now().uptimeNanoseconds
            guard let day = population.nextDay() else { break }
            generating += DispatchTime.now().uptimeNanoseconds - g0
            for e in day {
                let e0 = DispatchTime.now().uptimeNanoseconds
                let (key, value) = population.encode(e)
                generating += DispatchTime.now().uptimeNanoseconds - e0
                let p = partitionOf[e.user] ?? {
                    let v = Int32(Array(key.utf8).withUnsafeBytes { ByteHash.hash($0, seed: 42) } % UInt64(partitions))
                    partitionOf[e.user] = v
                    return v
                }()
                events?.line(value)
                value.withUnsafeBytes { _ = engine.process($0, partition: p, offset: offsets[Int(p)]) }
                offsets[Int(p)] += 1
                produced += 1
                if produced & 4095 == 0 {
                    engine.emitDueSnapshots()
                    drainOutputs()
                }
            }
        }
        engine.emitDueSnapshots()
        drainOutputs()
        engine.emitDueSnapshots(idle: Set(ids), quietAdvanceMs: DurationText.parse(drain)!)
        drainOutputs()
        alerts.close()
        events?.close()
        // After the events: the labels say when each gamer's gaming began.
        try Data(population.labelsJSON()).write(to: URL(fileURLWithPath: out + "/labels.json"))
        boards?.close()

        let seconds = Double(DispatchTime.now().uptimeNanoseconds - began) / 1e9
        let c = engine.counters
        print("simulate: scenario \(scenario), \(population.members.count) users, \(days) days from \(startMs), seed \(seed)")
        print(String(format: "  %d events (%d counted, %d service, %d dead letters) in %.1f s (%.1f s generating them); %d snapshots",
                     produced, c.counted, c.service, c.deadLetterTotal, seconds, Double(generating) / 1e9, c.snapshots))
        if !c.deadLetters.isEmpty {
            print("  dead letters by reason: " + c.deadLetters.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
        let fired = engine.detector.counters.fired.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        print("  \(alertCount) alert messages; fired: \(fired.isEmpty ? "none" : fired); resolved \(engine.detector.counters.resolved)")
        print("  wrote \(out)/alerts.jsonl, \(out)/labels.json" + (writeEvents ? ", \(out)/events.jsonl" : "") + (writeBoards ? ", \(out)/leaderboard.jsonl" : ""))
    }
}
