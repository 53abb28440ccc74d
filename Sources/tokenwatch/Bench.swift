import ArgumentParser
import Foundation
import TokenwatchConfig
import TokenwatchCore
import TokenwatchService
import TokenwatchSimulation

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the core engine (decode + dedup + windows + rules + boards) on one core, without Kafka.")

    @Option(help: "Events to process.") var events = 2_000_000
    @Option(help: "Distinct users.") var users = 100_000
    @Option(help: "Partitions the events are spread over (by user).") var partitions = 8
    @Option(help: "Event-time span the events cover.") var span = "24h"
    @Option(help: "Timed repetitions (the best is reported).") var repeats = 3
    @Option(help: "Seed.") var seed: UInt64 = 7
    @Option(help: "End to end instead: consume this topic's existing events through the daemon pipeline on these brokers.") var brokers: String?
    @Option(help: "With --brokers: the topic to consume.") var topic = "ai-usage"
    @Option(help: "With --brokers: engine threads (engine.threads; 0 = one per processor).") var threads = 0
    @Flag(help: "After the last round, time writing and restoring a checkpoint of the engine state.") var checkpoint = false
    @Option(help: "With --brokers: instances of the same group standing by (following the changelog) while the first one consumes.") var standbys = 0
    @Option(help: "With --brokers: instances splitting the input partitions (engine.instances: split) instead of one consuming; 0 = standby mode.") var split = 0
    @Option(help: "With --brokers: checkpoint interval, which is also how often the changelog is written.") var checkpointInterval = "1h"
    @Option(help: "With --brokers: the changelog topic (on) or none (off).") var changelog = "on"
    @Flag(help: "With --brokers: afterwards, time a takeover by a fresh instance restoring from the changelog, and one rebuilding from the input.") var takeover = false
    @Option(help: "Tokenmaxxing rules: on (every rule at its defaults) or off (none run).") var rules = "on"
    @Option(help: "Traffic: regular (uniform stream of regular users) or a simulate scenario such as mixed (users' own timelines over --span).")
    var scenario = "regular"
    @Flag(help: "Every performance target in one table, each figure next to its reference measured in the same run (kcat, a Python json.loads loop); takes a few minutes.")
    var targets = false
    @Flag(help: ArgumentHelp("The engine's memory and checkpoint pause with --users (for --targets, in a child process).", visibility: .hidden))
    var memoryProbe = false

    func validate() throws {
        if rules != "on" && rules != "off" { throw ValidationError("--rules must be on or off") }
        if scenario != "regular" && !SyntheticPopulation.scenarios.contains(scenario) {
            throw ValidationError("unknown scenario '\(scenario)'")
        }
    }

    func run() throws {
        if memoryProbe { return try MemoryProbe.run(events: events, users: users) }
        if targets {
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("tokenwatch-targets-\(getpid())").path
            let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
            var targets = PerformanceTargets(scratch: scratch, executable: executable)
            let rows = try targets.run()
            print(PerformanceTargets.table(rows))
            if !targets.notes.isEmpty { print("\n" + targets.notes.joined(separator: "\n")) }
            return
        }
        if let brokers { return try endToEnd(brokers: brokers) }
        guard let spanMs = DurationText.parse(span) else { throw ValidationError("--span is not a duration") }
        // Encode every message up front so only the engine is timed.
        let traffic = scenario == "regular"
            ? try BenchTraffic.regular(events: events, users: users, partitions: partitions, spanMs: spanMs, seed: seed)
            : try BenchTraffic.population(scenario: scenario, events: events, users: users, partitions: partitions, spanMs: spanMs, seed: seed)
        let count = traffic.count
        var configuration = EngineConfiguration()
        if rules == "off" { configuration.detection = configuration.detection.allDisabled }
        print("bench: \(count) events, \(users) users, \(partitions) partitions, span \(span), scenario \(scenario), rules \(rules), \(traffic.buffer.count / max(count, 1)) bytes/event")
        var best = Double.infinity
        var bestPerEvent = Double.infinity
        var lastFired: [String: Int] = [:]
        for round in 1...max(repeats, 1) {
            let r = BenchRound.run(traffic, configuration: configuration)
            let engine = r.engine
            best = min(best, r.seconds)
            bestPerEvent = min(bestPerEvent, r.perEventSeconds)
            lastFired = engine.detector.counters.fired
            let fired = lastFired.values.reduce(0, +)
            print(String(format: "round %d: %.3f s, %.0f events/s; per-event path %.3f s (%.0f events/s), snapshots %.3f s; %d outputs, %d counted, %d duplicates, %d dead letters, %d alerts fired",
                         round, r.seconds, Double(count) / r.seconds, r.perEventSeconds, Double(count) / r.perEventSeconds,
                         r.snapshotSeconds, r.outputs, engine.counters.counted,
                         engine.counters.duplicates, engine.counters.deadLetterTotal, fired))
            if checkpoint && round == max(repeats, 1) {
                let c0 = DispatchTime.now().uptimeNanoseconds
                let bytes = engine.checkpoint()
                let c1 = DispatchTime.now().uptimeNanoseconds
                let restored = try Engine(configuration: EngineConfiguration(), restoring: bytes)
                let c2 = DispatchTime.now().uptimeNanoseconds
                print(String(format: "checkpoint: %d users, %.1f MB, written in %.2f s, restored in %.2f s",
                             restored.users.count, Double(bytes.count) / 1e6, Double(c1 - c0) / 1e9, Double(c2 - c1) / 1e9))
            }
        }
        print(String(format: "best: %.0f events/s overall, %.0f events/s on the per-event path (decode, dedup, windows, per-event rules) (rules %@)",
                     Double(count) / best, Double(count) / bestPerEvent, rules))
        if !lastFired.isEmpty {
            print("alerts fired by rule: " + lastFired.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        }
    }

    /// Runs the live pipeline (fresh group, fresh state) over a topic that already holds `--events`
    /// messages and reports the time from start until all of them were consumed and processed.
    func endToEnd(brokers: String) throws {
        let run = try measureEndToEnd(brokers: brokers)
        let status = run.status
        print(String(format: "end to end: %d events in %.2f s from start (%.0f events/s), %.2f s from the first message (%.0f events/s); %d counted, %d dead letters; %d standbys, changelog %@, %d changelog writes of %.1f MB",
                     status.consumed, run.total, Double(status.consumed) / run.total, run.afterFirst, Double(status.consumed) / run.afterFirst,
                     status.counters.counted, status.counters.deadLetterTotal, standbys, changelog, status.changelogWrites,
                     Double(status.changelogBytes ?? 0) / 1e6))
        if takeover { try timeTakeovers(brokers: brokers, group: run.group, scratch: run.scratch) }
        try? FileManager.default.removeItem(atPath: run.scratch)
    }

    /// The live pipeline from start until `--events` messages were consumed and processed: seconds from
    /// start and from its first message, and its status then.
    func measureEndToEnd(brokers: String) throws -> (total: Double, afterFirst: Double, status: PipelineStatus, group: String, scratch: String) {
        let group = "tokenwatch-bench-\(getpid())"
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("tokenwatch-bench-\(getpid())").path
        let t0 = DispatchTime.now().uptimeNanoseconds
        if split > 0 { return try measureSplit(brokers: brokers, group: group, scratch: scratch, started: t0) }
        let first = BenchInstance(settings: try benchSettings(brokers: brokers, group: group, state: scratch + "/0"))
        var others: [BenchInstance] = []
        if standbys > 0 {
            while !first.pipeline.status.active { usleep(20_000) }
            for i in 1...standbys {
                others.append(BenchInstance(settings: try benchSettings(brokers: brokers, group: group, state: scratch + "/\(i)")))
            }
        }
        var firstAt: UInt64 = 0
        while first.pipeline.status.consumed < events {
            usleep(20_000)
            if firstAt == 0 && first.pipeline.status.consumed > 0 { firstAt = DispatchTime.now().uptimeNanoseconds }
        }
        let t1 = DispatchTime.now().uptimeNanoseconds
        let status = first.pipeline.status
        first.stop()
        for standby in others { standby.stop() }
        return (Double(t1 - t0) / 1e9, Double(t1 - max(firstAt, t0)) / 1e9, status, group, scratch)
    }

    /// `--split` instances splitting the partitions, until their partitions' states hold every event.
    func measureSplit(brokers: String, group: String, scratch: String, started t0: UInt64) throws
        -> (total: Double, afterFirst: Double, status: PipelineStatus, group: String, scratch: String) {
        let instances = try startSplit(brokers: brokers, group: group, scratch: scratch)
        var firstAt: UInt64 = 0
        var all = waitSettled(instances) { all in
            if firstAt == 0 && all.contains(where: { $0.consumed > 0 }) { firstAt = DispatchTime.now().uptimeNanoseconds }
        }
        let t1 = DispatchTime.now().uptimeNanoseconds
        // Then until the snapshot times stop moving (the barrier, the epochs): every board the input allows.
        var lastMove = t1, snapshots = all.map(\.lastSnapshotAt)
        while DispatchTime.now().uptimeNanoseconds - lastMove < 2_000_000_000 {
            usleep(20_000)
            all = instances.map(\.pipeline.status)
            if all.map(\.lastSnapshotAt) != snapshots { snapshots = all.map(\.lastSnapshotAt); lastMove = DispatchTime.now().uptimeNanoseconds }
        }
        print(String(format: "split: every event counted %.2f s after the first message; snapshot times settled (at %@) %.2f s after it (%.0f events/s)",
                     Double(t1 - max(firstAt, t0)) / 1e9, snapshots.compactMap { $0 }.max().map(RFC3339.format) ?? "none",
                     Double(lastMove - max(firstAt, t0)) / 1e9, Double(events) / (Double(lastMove - max(firstAt, t0)) / 1e9)))
        var status = all[0]
        status.consumed = all.reduce(0) { $0 + $1.consumed }
        status.counters.counted = all.reduce(0) { $0 + $1.counters.counted }
        let bytes = all.reduce(0) { $0 + ($1.changelogBytes ?? 0) }
        print(String(format: "split: %d instances, %d starts from an epoch or the beginning, %d messages read in all, %d partition states (%.1f MB) on the changelog",
                     split, all.reduce(0) { $0 + $1.changelogRestores }, status.consumed, all.reduce(0) { $0 + $1.changelogWrites },
                     Double(bytes) / 1e6))
        for instance in instances { instance.stop() }
        if takeover {
            // The same group starts again from its newest epoch; another group re-reads the whole input.
            for (label, name) in [("from the epochs", group), ("re-reading the input", group + "-rebuild")] {
                let t2 = DispatchTime.now().uptimeNanoseconds
                let again = try startSplit(brokers: brokers, group: name, scratch: scratch + "/" + label.filter(\.isLetter))
                let read = waitSettled(again) { _ in }.reduce(0) { $0 + $1.consumed }
                for instance in again { instance.stop() }
                print(String(format: "restart of %d split instances %@: every event counted again in %.2f s, %d messages read",
                             split, label, Double(DispatchTime.now().uptimeNanoseconds - t2) / 1e9, read))
            }
        }
        return (Double(t1 - t0) / 1e9, Double(t1 - max(firstAt, t0)) / 1e9, status, group, scratch)
    }

    func startSplit(brokers: String, group: String, scratch: String) throws -> [BenchInstance] {
        try (0..<split).map { i in
            var settings = try benchSettings(brokers: brokers, group: group, state: scratch + "/\(i)")
            settings.splitPartitions = true
            return BenchInstance(settings: settings)
        }
    }

    /// Waits until the instances' partitions hold every event (counted, dead-lettered, repeated or a
    /// service account's); returns their status then. `polled` sees each poll's.
    func waitSettled(_ instances: [BenchInstance], polled: ([PipelineStatus]) -> Void) -> [PipelineStatus] {
        while true {
            usleep(20_000)
            let all = instances.map(\.pipeline.status)
            polled(all)
            let settled = all.reduce(0) { $0 + $1.counters.counted + $1.counters.deadLetterTotal + $1.counters.duplicates + $1.counters.service }
            if settled >= events { return all }
        }
    }

    /// A fresh instance of the group takes over from the changelog the stopped one left; then a fresh
    /// instance of another group, without a changelog, rebuilds the same state by re-reading the input.
    func timeTakeovers(brokers: String, group: String, scratch: String) throws {
        for (label, group, changelogOn) in [("from the changelog", group, true), ("re-reading the input", group + "-rebuild", false)] {
            var settings = try benchSettings(brokers: brokers, group: group, state: scratch + "/" + label.filter(\.isLetter))
            if !changelogOn { settings.changelogTopic = nil }
            let t0 = DispatchTime.now().uptimeNanoseconds
            let instance = BenchInstance(settings: settings)
            while !instance.pipeline.status.ready || instance.pipeline.status.catchingUp { usleep(10_000) }
            let t1 = DispatchTime.now().uptimeNanoseconds
            let status = instance.pipeline.status
            instance.stop()
            print(String(format: "takeover %@: ready in %.2f s (restore %.2f s), %d messages read, %d users",
                         label, Double(t1 - t0) / 1e9, Double(status.lastChangelogRestoreMs ?? 0) / 1e3, status.consumed, status.trackedUsers))
        }
    }

    func benchSettings(brokers: String, group: String, state: String) throws -> PipelineSettings {
        var config = TokenwatchConfiguration()
        config.kafka.brokers = brokers
        config.kafka.inputTopic = topic
        config.kafka.groupId = group
        config.kafka.librdkafka["session.timeout.ms"] = "6000"  // a restarted group re-forms quickly on the mock cluster
        config.state.changelog = changelog == "on"
        var settings = pipelineSettings(config, stateDirectory: state)
        guard let interval = DurationText.parse(checkpointInterval) else { throw ValidationError("--checkpoint-interval is not a duration") }
        settings.checkpointIntervalMs = interval
        settings.threads = threads
        return settings
    }
}

/// One live pipeline of the end-to-end bench, on its own thread, logging warnings only.
final class BenchInstance: Sendable {
    let pipeline: Pipeline
    private let done = DispatchSemaphore(value: 0)

    init(settings: PipelineSettings) {
        var logger = makeLogger("tokenwatch.bench")
        logger.logLevel = .warning
        pipeline = Pipeline(settings: settings, logger: logger)
        Thread { [pipeline, done] in
            let s = DispatchSemaphore(value: 0)
            Task { try? await pipeline.run(); s.signal() }
            s.wait()
            done.signal()
        }.start()
    }

    func stop() {
        pipeline.requestStop()
        done.wait()
    }
}
