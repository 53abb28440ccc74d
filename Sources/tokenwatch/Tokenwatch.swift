import ArgumentParser
import Foundation
import Kafka
import Logging
import ServiceLifecycle
import TokenwatchConfig
import TokenwatchCore
import TokenwatchService
import UnixSignals

@main
struct Tokenwatch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenwatch",
        abstract: "Exact AI-usage leaderboards and explainable tokenmaxxing alerts from a Kafka stream.",
        subcommands: [Run.self, DevBroker.self, Demo.self, Loadgen.self, Replay.self, Alerts.self, Leaderboard.self, CheckConfig.self, Bench.self,
                      Simulate.self, Evaluate.self]
    )
}

/// Exit codes of the contract: 1 runtime failure, 2 usage or configuration error.
enum Exit {
    static let runtime = ExitCode(1)
    static let usage = ExitCode(2)
}

func makeLogger(_ label: String) -> Logger {
    LoggingSystem.bootstrapOnce()
    var logger = Logger(label: label)
    let level = ProcessInfo.processInfo.environment["TOKENWATCH_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.lowercased()) }
    logger.logLevel = level ?? .info
    return logger
}

extension LoggingSystem {
    private static let once: Void = {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
    }()
    static func bootstrapOnce() { _ = once }
}

/// Loads the configuration with the contract's precedence; errors exit 2 naming the key.
func loadConfiguration(path: String?, overrides: [String: String]) throws -> TokenwatchConfiguration {
    let env = ProcessInfo.processInfo.environment
    do {
        return try ConfigurationLoader.load(path: configurationPath(path), environment: env, overrides: overrides)
    } catch {
        FileHandle.standardError.write(Data("tokenwatch: configuration error: \(error)\n".utf8))
        throw Exit.usage
    }
}

/// The file `path` names, else $TOKENWATCH_CONFIG, else /etc/tokenwatch/tokenwatch.yaml when present.
func configurationPath(_ path: String?) -> String? {
    if let resolved = path ?? ProcessInfo.processInfo.environment["TOKENWATCH_CONFIG"] { return resolved }
    let installed = "/etc/tokenwatch/tokenwatch.yaml"
    return FileManager.default.fileExists(atPath: installed) ? installed : nil
}

func pipelineSettings(_ config: TokenwatchConfiguration, stateDirectory: String? = nil) -> PipelineSettings {
    var s = PipelineSettings(
        brokers: config.kafka.brokers, groupId: config.kafka.groupId, inputTopic: config.kafka.inputTopic,
        leaderboardTopic: config.kafka.leaderboardTopic, alertsTopic: config.kafka.alertsTopic,
        deadletterTopic: config.kafka.deadletterTopic, librdkafka: config.kafka.librdkafka, engine: config.engine,
        stateDirectory: stateDirectory ?? config.state.resolvedDirectory(environment: ProcessInfo.processInfo.environment, groupId: config.kafka.groupId))
    s.checkpointIntervalMs = config.state.checkpointIntervalMs
    s.leaderTopic = config.kafka.internalTopicPrefix + "leader"
    return s
}

/// Parses TIME: RFC 3339 or epoch milliseconds.
func parseTime(_ text: String) throws -> Int64 {
    if let ms = Int64(text) { return ms }
    if let ms = RFC3339.parse(Array(text.utf8)) { return ms }
    throw ValidationError("'\(text)' is not a time (RFC 3339 or epoch milliseconds)")
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the daemon: consume usage events, publish leaderboards and dead letters.")

    @Option(help: "Configuration file (default: $TOKENWATCH_CONFIG, else /etc/tokenwatch/tokenwatch.yaml when present).")
    var config: String?
    @Option(help: "Bootstrap brokers, HOST:PORT,... (overrides kafka.brokers).")
    var brokers: String?
    @Option(help: "State directory for checkpoints (overrides state.dir).")
    var stateDir: String?

    func run() async throws {
        var overrides: [String: String] = [:]
        if let brokers { overrides["kafka.brokers"] = brokers }
        if let stateDir { overrides["state.dir"] = stateDir }
        let configuration = try loadConfiguration(path: config, overrides: overrides)
        let logger = makeLogger("tokenwatch")
        let pipeline = Pipeline(settings: pipelineSettings(configuration), logger: logger)
        let group: ServiceGroup
        do {
            group = try ProductionServices.group(
                configuration: configuration, pipeline: pipeline, logger: logger,
                reload: { [config, overrides] in
                    try ConfigurationLoader.load(path: configurationPath(config), environment: ProcessInfo.processInfo.environment,
                                                 overrides: overrides)
                })
        } catch {
            logger.error("tokenwatch cannot start: \(error)")
            throw Exit.runtime
        }
        do {
            try await group.run()
        } catch let refusal as PipelineRefusal {
            logger.error("tokenwatch refuses to start: \(refusal)")
            throw Exit.usage
        } catch {
            logger.error("tokenwatch failed", metadata: ["error": "\(error)"])
            throw Exit.runtime
        }
    }
}

struct DevBroker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dev-broker",
        abstract: "An embedded Kafka-compatible broker (librdkafka's mock cluster) on 127.0.0.1 with the configured topics.")

    @Option(help: "Port to listen on (0 = any free port).") var port: UInt16 = 9092
    @Option(help: "Partitions per topic.") var partitions: Int32 = 8
    @Option(help: "Brokers in the mock cluster (partition leaders are spread over them).") var brokers: Int32 = 1
    @Option(help: "Configuration file (for topic names).") var config: String?

    func run() async throws {
        let configuration = try loadConfiguration(path: config, overrides: [:])
        let logger = makeLogger("tokenwatch.dev-broker")
        let k = configuration.kafka
        let broker: TokenwatchService.DevBroker
        do {
            broker = try TokenwatchService.DevBroker(port: port, partitions: partitions,
                                                     topics: [k.inputTopic, k.leaderboardTopic, k.alertsTopic, k.deadletterTopic,
                                                              k.internalTopicPrefix + "leader"],
                                                     brokers: brokers, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("tokenwatch dev-broker: \(error)\n".utf8))
            throw Exit.runtime
        }
        FileHandle.standardOutput.write(Data((broker.bootstrap + "\n").utf8))
        logger.info("dev broker ready", metadata: ["bootstrap": "\(broker.bootstrap)", "partitions": "\(partitions)"])
        for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) { break }
        logger.info("dev broker stopping")
        withExtendedLifetime(broker) {}
    }
}

struct Loadgen: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Produce synthetic AI-usage events (deterministic with --seed).")

    @Option(help: "Bootstrap brokers.") var brokers: String?
    @Option(help: "Write the events as JSON lines to this file instead of producing them.") var file: String?
    @Option(help: "Topic to produce to.") var topic = "ai-usage"
    @Option(help: "Number of users.") var users = 200
    @Option(help: "Number of events to produce.") var events: Int?
    @Option(help: "Produce for this many seconds (with --rate).") var duration: Double?
    @Option(help: "Events per second (default: as fast as possible).") var rate: Double?
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: ArgumentHelp(
        "Traffic scenario: regular, mixed, or one persona for everyone.",
        discussion: "regular: each event a random regular developer at the given time (the classic stream). mixed and the personas (\(SyntheticPopulation.scenarios.filter { $0 != "mixed" && $0 != "regular" }.joined(separator: ", "))) follow each user's own simulated timeline from --start over --span; without --start the span ends now."))
    var scenario = "regular"
    @Option(help: "Write the ground truth (user → persona) as JSON here.") var labels: String?
    @Option(help: "Event time of the first event (RFC 3339 or epoch ms); default: the wall clock at each event (regular), or now minus --span (other scenarios).") var start: String?
    @Option(help: "Event-time span the events cover when --start is given, or the simulated span of a persona scenario (e.g. 6h, 7d).") var span = "1h"

    func validate() throws {
        if scenario == "regular" {
            if events == nil && duration == nil { throw ValidationError("give --events N or --duration SEC") }
        }
        if (brokers == nil) == (file == nil) { throw ValidationError("give exactly one of --brokers B or --file PATH") }
        if duration != nil && rate == nil && events == nil { throw ValidationError("--duration needs --rate") }
        if scenario != "regular" && !SyntheticPopulation.scenarios.contains(scenario) {
            throw ValidationError("unknown scenario '\(scenario)' (available: regular, \(SyntheticPopulation.scenarios.joined(separator: ", ")))")
        }
        if DurationText.parse(span) == nil { throw ValidationError("--span '\(span)' is not a duration") }
    }

    func run() throws {
        let logger = makeLogger("tokenwatch.loadgen")
        let output: GeneratedEventOutput
        do {
            output = try GeneratedEventOutput(file: file, brokers: brokers, topic: topic, logger: logger)
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
                    let (key, value) = population.encode(e)
                    try send(key, value)
                }
            }
        }
        let failed = try output.finish()
        let seconds = Double(WallClock.monotonicMs() - began) / 1000
        logger.info("loadgen done", metadata: ["scenario": "\(scenario)", "events": "\(sent)", "failed": "\(failed)", "seconds": "\(seconds)"])
        if failed > 0 { throw Exit.runtime }
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

    init(file path: String?, brokers: String?, topic: String, logger: Logger) throws {
        self.topic = topic
        if let path {
            FileManager.default.createFile(atPath: path, contents: nil)
            guard let h = FileHandle(forWritingAtPath: path) else { throw ValidationError("cannot write \(path)") }
            file = h
            producer = nil
        } else {
            file = nil
            producer = try KafkaProducer(configuration: ["bootstrap.servers": brokers ?? "", "linger.ms": "20"], logger: logger)
        }
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
        while true {
            do {
                try producer.produce(topic: topic, key: Array(key.utf8), value: value, token: token)
                break
            } catch {
                failed += producer.pollDeliveries(timeout: .milliseconds(20)).filter { $0.error != nil }.count
            }
        }
        if token % 10_000 == 0 { failed += producer.pollDeliveries(timeout: .zero).filter { $0.error != nil }.count }
    }

    /// Flushes everything; returns how many events the broker did not take.
    func finish() throws -> Int {
        if let file {
            try file.write(contentsOf: buffer)
            try file.close()
            return 0
        }
        guard let producer else { return 0 }
        while producer.outstanding > 0 {
            failed += producer.pollDeliveries(timeout: .milliseconds(100)).filter { $0.error != nil }.count
        }
        failed += producer.pollDeliveries(timeout: .zero).filter { $0.error != nil }.count
        return failed
    }
}

struct Leaderboard: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the latest leaderboard of each scope from the board topic.")

    @Option(help: "Bootstrap brokers.") var brokers: String
    @Option(help: "Window name, e.g. 1h, 24h, 7d (default: all).") var window: String?
    @Option(help: "Scope: global or team:<name> (default: all).") var scope: String?
    @Option(help: "Leaderboard topic.") var topic = "tokenwatch.leaderboard"
    @Flag(help: "One JSON object per line instead of tables.") var json = false

    func run() throws {
        let logger = makeLogger("tokenwatch.leaderboard")
        let boards: [String: [String: Any]]
        do {
            boards = try BoardReader.latestBoards(brokers: brokers, topic: topic, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("tokenwatch leaderboard: \(error)\n".utf8))
            throw Exit.runtime
        }
        let chosen = boards.keys.sorted().filter { key in
            let parts = key.split(separator: "|", maxSplits: 1).map(String.init)
            return (window == nil || parts.first == window) && (scope == nil || parts.last == scope)
        }
        if chosen.isEmpty {
            FileHandle.standardError.write(Data("no board yet for that window and scope\n".utf8))
            throw Exit.runtime
        }
        for key in chosen {
            if json {
                let data = try JSONSerialization.data(withJSONObject: boards[key]!, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print(BoardReader.table(boards[key]!))
                print()
            }
        }
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "check-config", abstract: "Validate a configuration file and print the effective configuration.")

    @Argument(help: "The YAML file.") var path: String

    func run() throws {
        let config = try loadConfiguration(path: path, overrides: [:])
        print(config.redactedYAML())
        FileHandle.standardError.write(Data("\(path): OK\n".utf8))
    }
}
