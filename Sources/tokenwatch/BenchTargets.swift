import ArgumentParser
import Foundation
import Logging
import TokenwatchConfig
import TokenwatchCore
import TokenwatchService
import TokenwatchSimulation

/// `tokenwatch bench --targets`: every figure of the performance targets, each measured next to its
/// reference in the same run (kcat for end to end, a Python `json.loads` loop for file replay), in one table.
struct PerformanceTargets {
    /// One line of the table.
    struct Row {
        var figure: String
        var measured: String
        var reference: String
        var target: String
        /// nil: nothing to compare (a reference tool is missing, or the figure is measured elsewhere).
        var holds: Bool?
    }

    var coreEvents = 2_000_000
    var coreUsers = 100_000
    var weekUsers = 600
    var weekDays = 8
    var endToEndEvents = 475_000
    var endToEndUsers = 2_000
    var memoryUsers = 1_000_000
    let scratch: String
    /// This executable, for the memory probe (a child process, so nothing else in this one counts).
    let executable: String

    /// What the table's figures rest on, printed under it (the engine's memory by part).
    private(set) var notes: [String] = []

    mutating func run() throws -> [Row] {
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        var rows: [Row] = []
        note("memory and checkpoint pause with \(memoryUsers) users (a child process)")
        rows += try memoryRows()
        note("core engine, \(coreEvents) events of \(coreUsers) users")
        rows.append(try coreRow())
        note("a week of \(weekUsers) users from a file, and the Python loop over it")
        rows += try weekRows()
        note("end to end through an embedded broker, and kcat over the same topic")
        rows.append(try endToEndRow())
        rows.append(Row(figure: "alert latency (a) watermark to ack, p99, at 50k ev/s", measured: "live only",
                        reference: "bench/alert-latency.sh", target: "≤ 50 ms", holds: nil))
        return rows
    }

    private func note(_ text: String) {
        FileHandle.standardError.write(Data("bench: \(text)\n".utf8))
    }

    // MARK: core engine

    private func coreRow() throws -> Row {
        let traffic = try BenchTraffic.regular(events: coreEvents, users: coreUsers, partitions: 8, spanMs: 86_400_000, seed: 7)
        // The best of two rounds, as `bench` reports.
        let round = [BenchRound.run(traffic, configuration: EngineConfiguration()), BenchRound.run(traffic, configuration: EngineConfiguration())]
            .min { $0.perEventSeconds < $1.perEventSeconds }!
        let perEvent = Double(traffic.count) / round.perEventSeconds
        return Row(figure: "core engine, per-event path, one core (\(coreUsers / 1000)k users)", measured: rate(perEvent),
                   reference: "", target: "≥ 2M ev/s", holds: perEvent >= 2_000_000)
    }

    // MARK: a week from a file

    private func weekRows() throws -> [Row] {
        let path = scratch + "/week.jsonl"
        let events = try writeWeek(to: path)
        let python = try timePythonLoop(path)
        let minute = try timeReplay(path, snapshotIntervalMs: 60_000)
        let hour = try timeReplay(path, snapshotIntervalMs: 3_600_000)
        var rows = [Row(figure: "a week from a file, 1-minute snapshots (\(events / 1000)k events)",
                        measured: seconds(minute.wall) + " (user \(seconds(minute.user)))",
                        reference: python.map { "json.loads loop " + seconds($0.wall) + " (user \(seconds($0.user)))" } ?? "python3 missing",
                        target: "≤ 0.5× the loop", holds: python.map { minute.wall <= 0.5 * $0.wall })]
        if let python { rows[0].measured += String(format: ": %.2f×", minute.wall / python.wall) }
        let hourRate = Double(events) / hour.wall
        rows.append(Row(figure: "the same week, 1-hour snapshots", measured: rate(hourRate), reference: "",
                        target: "≥ 1M ev/s", holds: hourRate >= 1_000_000))
        return rows
    }

    /// The mixed population's week as JSON lines; returns the number of events.
    private func writeWeek(to path: String) throws -> Int {
        var population = try SyntheticPopulation(scenario: "mixed", users: weekUsers, seed: 3, start: 1_793_577_600_000, days: weekDays)
        var out: [UInt8] = []
        var count = 0
        while let day = population.nextDay() {
            for e in day {
                out.append(contentsOf: population.encode(e).value)
                out.append(0x0A)
                count += 1
            }
        }
        try Data(out).write(to: URL(fileURLWithPath: path))
        return count
    }

    /// `tokenwatch replay --input path --out dir` with the default configuration but the snapshot interval.
    private func timeReplay(_ path: String, snapshotIntervalMs: Int64) throws -> (wall: Double, user: Double) {
        let configuration = TokenwatchConfiguration()
        var engine = configuration.engine
        engine.snapshotIntervalMs = snapshotIntervalMs
        let replayer = Replayer(engine: engine, inputTopic: configuration.kafka.inputTopic, from: nil, to: nil,
                                logger: Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() }),
                                progress: ProgressReporter(enabled: false), threads: configuration.engineSettings.threads)
        let out = scratch + "/replay-\(snapshotIntervalMs)"
        let time = try CPUTime.measure {
            var sink = try DirectorySink(directory: out)
            _ = try replayer.replayFile(path: path, partitions: 8, sink: &sink)
        }
        try? FileManager.default.removeItem(atPath: out)
        return time
    }

    /// A plain Python loop calling `json.loads` on every line of `path`; nil without python3.
    private func timePythonLoop(_ path: String) throws -> (wall: Double, user: Double)? {
        let script = "import json, sys\nfor line in open(sys.argv[1], 'rb'):\n    json.loads(line)\n"
        return try ChildProcess.timed("python3", ["-c", script, path])
    }

    // MARK: end to end

    private func endToEndRow() throws -> Row {
        let logger = Logger(label: "bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let k = TokenwatchConfiguration().kafka
        let broker = try TokenwatchService.DevBroker(port: 0, partitions: 64,
                                   topics: [k.inputTopic, k.leaderboardTopic, k.alertsTopic, k.deadletterTopic, k.internalTopicPrefix + "changelog"],
                                   singlePartition: [k.internalTopicPrefix + "leader"], logger: logger)
        let output = try GeneratedEventOutput(properties: ["bootstrap.servers": broker.bootstrap, "linger.ms": "20"], topic: k.inputTopic, logger: logger)
        var traffic = SyntheticTraffic(users: endToEndUsers, seed: 1)
        for i in 0..<endToEndEvents {
            let (key, value) = traffic.next(ts: 1_795_000_000_000 + Int64(i) * 86_400_000 / Int64(endToEndEvents))
            try output.send(key: key, value: value)
        }
        _ = try output.finish()
        let kcat = try timeKcat(brokers: broker.bootstrap, topic: k.inputTopic)
        // The daemon's defaults (a checkpoint every 30 s, the changelog on, a thread per processor).
        let bench = try Bench.parse(["--events", "\(endToEndEvents)", "--topic", k.inputTopic, "--checkpoint-interval", "30s"])
        let ours = try bench.measureEndToEnd(brokers: broker.bootstrap)
        try? FileManager.default.removeItem(atPath: ours.scratch)
        let oursRate = Double(endToEndEvents) / ours.afterFirst
        var row = Row(figure: "end to end through the embedded broker (\(endToEndEvents / 1000)k events, \(endToEndUsers) users, 64 partitions)",
                      measured: rate(oursRate), reference: "kcat -C not found", target: "≥ 0.70 of kcat", holds: nil)
        if let kcat {
            let kcatRate = Double(endToEndEvents) / kcat
            row.reference = "kcat -C " + rate(kcatRate)
            row.measured += String(format: ": %.2f", oursRate / kcatRate)
            row.holds = oursRate >= 0.7 * kcatRate
        }
        return row
    }

    /// `kcat -C` reading the whole topic once (one byte per message, counted); nil without kcat.
    private func timeKcat(brokers: String, topic: String) throws -> Double? {
        let output = scratch + "/kcat.out"
        guard let time = try ChildProcess.timed("kcat", ["-C", "-b", brokers, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "x"],
                                                stdout: output) else { return nil }
        let read = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        guard read == endToEndEvents else { throw ValidationError("kcat read \(read) of \(endToEndEvents) messages") }
        return time.wall
    }

    // MARK: memory and checkpoint pause

    private mutating func memoryRows() throws -> [Row] {
        let output = scratch + "/memory.out"
        guard try ChildProcess.timed(executable, ["bench", "--memory-probe", "--users", "\(memoryUsers)", "--events", "\(memoryUsers * 3)"],
                                     stdout: output) != nil else { throw ValidationError("cannot run \(executable)") }
        let text = try String(contentsOfFile: output, encoding: .utf8)
        let probe = try MemoryProbe.Result(parsing: text)
        notes.append("The engine's state at \(probe.users) users, by part (array capacities; allocator overhead not counted):")
        notes += probe.parts.map { "  " + $0 }
        let megabytes = Double(probe.engineBytes) / 1_048_576
        return [
            Row(figure: "RSS of the engine with \(probe.users / 1000)k active users, default windows and rules",
                measured: String(format: "%.0f MB", megabytes), reference: "", target: "≤ 512 MB", holds: megabytes <= 512),
            Row(figure: "checkpoint at \(probe.users / 1000)k users: longest stop of consumption",
                measured: String(format: "%.0f ms", probe.pauseMs), reference: String(format: "a batch without one: %.0f ms", probe.batchMs),
                target: "≤ 50 ms", holds: probe.pauseMs <= 50),
        ]
    }

    private func rate(_ eventsPerSecond: Double) -> String {
        eventsPerSecond >= 1_000_000 ? String(format: "%.2fM ev/s", eventsPerSecond / 1e6) : String(format: "%.0fk ev/s", eventsPerSecond / 1e3)
    }

    private func seconds(_ s: Double) -> String { String(format: "%.1f s", s) }

    /// The table, as Markdown.
    static func table(_ rows: [Row]) -> String {
        var lines = ["| figure | measured | reference, same run | target | holds |", "|---|---|---|---|---|"]
        for r in rows {
            let holds = r.holds.map { $0 ? "yes" : "no" } ?? "—"
            lines.append("| \(r.figure) | \(r.measured) | \(r.reference.isEmpty ? "—" : r.reference) | \(r.target) | \(holds) |")
        }
        return lines.joined(separator: "\n")
    }
}

/// Wall and user CPU time of work in this process.
enum CPUTime {
    static func measure(_ body: () throws -> Void) rethrows -> (wall: Double, user: Double) {
        let u0 = userSeconds(RUSAGE_SELF), t0 = DispatchTime.now().uptimeNanoseconds
        try body()
        return (Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9, userSeconds(RUSAGE_SELF) - u0)
    }

    static func userSeconds(_ who: __rusage_who) -> Double {
        var usage = rusage()
        getrusage(__rusage_who_t(who.rawValue), &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
    }
}

/// Runs a tool to completion and times it.
enum ChildProcess {
    /// Wall and user CPU time of `tool args` (found on PATH), stdout to `stdout` or discarded; nil when
    /// the tool is not installed; throws when it fails.
    static func timed(_ tool: String, _ args: [String], stdout: String? = nil) throws -> (wall: Double, user: Double)? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + args
        if let stdout {
            _ = FileManager.default.createFile(atPath: stdout, contents: nil)
            process.standardOutput = FileHandle(forWritingAtPath: stdout)
        } else {
            process.standardOutput = FileHandle.nullDevice
        }
        process.standardError = FileHandle.nullDevice
        let u0 = CPUTime.userSeconds(RUSAGE_CHILDREN), t0 = DispatchTime.now().uptimeNanoseconds
        try process.run()
        process.waitUntilExit()
        let wall = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        if process.terminationStatus == 127 { return nil }  // env: not found
        guard process.terminationStatus == 0 else { throw ValidationError("\(tool) exited with \(process.terminationStatus)") }
        return (wall, CPUTime.userSeconds(RUSAGE_CHILDREN) - u0)
    }
}
