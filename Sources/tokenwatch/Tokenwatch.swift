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
        version: BuildInfo.versionLine,
        subcommands: [Run.self, DevBroker.self, Demo.self, Loadgen.self, Replay.self, Alerts.self, Leaderboard.self, CheckConfig.self, Explain.self, Report.self, Bench.self,
                      Simulate.self, Evaluate.self]
    )

    /// ArgumentParser's `main`, except that usage errors exit 2 as the contract says: ArgumentParser
    /// exits 64 (EX_USAGE) for a bad flag, a missing argument or a `ValidationError`.
    static func main() async {
        var command: any ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            guard exitCode(for: error) == .validationFailure else { exit(withError: error) }
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            exit(withError: Exit.usage)
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            guard exitCode(for: error) == .validationFailure else { exit(withError: error) }
            // Thrown while running, so ArgumentParser does not know the subcommand: name it here.
            let name = type(of: command)._commandName
            FileHandle.standardError.write(Data("Error: \(message(for: error))\n  See 'tokenwatch \(name) --help' for more information.\n".utf8))
            exit(withError: Exit.usage)
        }
    }
}

/// Exit codes of the contract: 1 runtime failure, 2 usage or configuration error.
enum Exit {
    static let runtime = ExitCode(1)
    static let usage = ExitCode(2)
}

/// Loads the configuration with the contract's precedence, and has librdkafka check the
/// `kafka.librdkafka` properties; errors exit 2 naming the file, line and key.
func loadConfiguration(path: String?, overrides: [String: String]) throws -> TokenwatchConfiguration {
    let env = ProcessInfo.processInfo.environment
    let file = configurationPath(path)
    do {
        let configuration = try ConfigurationLoader.load(path: file, environment: env, overrides: overrides)
        LogOutput.bootstrap(configuration.logging)
        if let refusal = LibrdkafkaCheck.check(configuration.kafka) {
            let origins = LibrdkafkaOrigins.locate(path: file, environment: env, overrides: overrides)
            let message = "refused by librdkafka (\(refusal.client)): \(refusal.message)"
            throw refusal.property.map { origins.error(property: $0, message: message) }
                ?? ConfigurationError(source: file ?? "configuration", key: "kafka.librdkafka", message: message)
        }
        return configuration
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
    s.threads = config.engineSettings.threads
    s.inputs = config.effectiveInputs
    s.leaderTopic = config.kafka.internalTopicPrefix + "leader"
    s.changelogTopic = config.state.changelog ? config.kafka.internalTopicPrefix + "changelog" : nil
    s.splitPartitions = config.engineSettings.splitPartitions
    s.exchangeTopic = config.kafka.internalTopicPrefix + "exchange"
    s.epochIntervalMs = config.state.epochIntervalMs
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
        // kafka.input_topic too when inputs: lists others, so a shorthand-configured client finds its topic.
        let inputTopics = ([k.inputTopic] + configuration.effectiveInputs.map(\.topic)).uniqued()
        let broker: TokenwatchService.DevBroker
        do {
            broker = try TokenwatchService.DevBroker(port: port, partitions: partitions,
                                                     topics: inputTopics + [k.leaderboardTopic, k.alertsTopic, k.deadletterTopic,
                                                              k.internalTopicPrefix + "changelog"],
                                                     // The election's partition 0 only; the exchange keeps a group's records on one.
                                                     singlePartition: [k.internalTopicPrefix + "leader", k.internalTopicPrefix + "exchange"],
                                                     brokers: brokers, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("tokenwatch dev-broker: \(error)\n".utf8))
            throw Exit.runtime
        }
        FileHandle.standardOutput.write(Data((broker.bootstrap + "\n").utf8))
        logger.info("dev broker ready", metadata: ["bootstrap": "\(broker.bootstrap)", "partitions": "\(partitions)"])
        let topics = inputTopics + [k.leaderboardTopic, k.alertsTopic, k.deadletterTopic]
        let watch = Task.detached {
            // Every 10 s: say which partitions dropped their oldest messages since the last look.
            var known: [String: Int64] = [:]
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(10))
                if let dropped = DevBrokerRetention.dropped(properties: ["bootstrap.servers": broker.bootstrap], topics: topics, logger: logger) {
                    DevBrokerRetention.warn(dropped, known: &known, logger: logger)
                }
            }
        }
        defer { watch.cancel() }
        for await _ in await UnixSignalsSequence(trapping: .sigterm, .sigint) { break }
        logger.info("dev broker stopping")
        withExtendedLifetime(broker) {}
    }
}

extension Array where Element: Hashable {
    /// The elements in order, each once.
    func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}
