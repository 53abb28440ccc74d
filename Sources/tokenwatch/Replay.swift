import ArgumentParser
import Foundation
import Kafka
import TokenwatchConfig
import TokenwatchCore
import TokenwatchService

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Recompute leaderboards (and alerts) over history, deterministically, from a file or a topic.",
        discussion: """
        Boards are written for snapshot times in [--from, --to]. From a topic, reading starts at --from minus the \
        longest window (plus allowed lateness) so every window is full at --from; the live consumer group is never \
        joined or moved. Without --out, outputs go to topics named with replay.topic_prefix (default "replay.").
        """)

    @Option(help: "JSON-lines file of events (.jsonl or .jsonl.gz).") var input: String?
    @OptionGroup var kafka: KafkaClientOptions
    @Option(help: "First snapshot time to write (RFC 3339 or epoch ms); without --input, replays the input topic.") var from: String?
    @Option(help: "Last snapshot time to write (RFC 3339 or epoch ms).") var to: String?
    @Option(help: "Write leaderboard.jsonl, alerts.jsonl, deadletter.jsonl here instead of producing to topics.") var out: String?
    @Option(help: "With --input: partitions of the live topic, so per-partition order matches it (librdkafka's key partitioner).") var partitions: Int32 = 8
    @Option(help: "Without --input: the one topic to read (default: every input of inputs:, else kafka.input_topic).") var topic: String?
    @Flag(help: "No progress output.") var quiet = false

    func validate() throws {
        if input != nil && kafka.brokers != nil { throw ValidationError("give --input FILE or --brokers B, not both") }
        if input == nil && from == nil {
            throw ValidationError("give --input FILE, or --from TIME to replay the input topic (brokers from --brokers or the configuration)")
        }
        if partitions < 1 { throw ValidationError("--partitions must be at least 1") }
    }

    func run() throws {
        let configuration = try kafka.load()
        let fromMs = try from.map(parseTime)
        let toMs = try to.map(parseTime)
        if let fromMs, let toMs, toMs < fromMs { throw ValidationError("--to is before --from") }
        let logger = makeLogger("tokenwatch.replay")
        let k = configuration.kafka
        let replayer = Replayer(engine: configuration.engine, inputTopic: topic ?? k.inputTopic, from: fromMs, to: toMs,
                                logger: logger, progress: ProgressReporter(enabled: !quiet), threads: configuration.engineSettings.threads)
        do {
            let summary: ReplaySummary
            if let out {
                var sink = try DirectorySink(directory: out)
                summary = try replay(replayer, configuration, &sink)
            } else {
                let prefix = configuration.replay.topicPrefix
                if prefix.isEmpty {
                    throw ValidationError("replay.topic_prefix is empty: replay never writes to the live topics (use --out DIR or set a prefix)")
                }
                var sink = try TopicSink(brokers: k.brokers, librdkafka: k.librdkafka,
                                         topics: [.leaderboard: prefix + k.leaderboardTopic, .alert: prefix + k.alertsTopic,
                                                  .deadLetter: prefix + k.deadletterTopic], logger: logger)
                summary = try replay(replayer, configuration, &sink)
            }
            FileHandle.standardError.write(Data((summary.text + "\n").utf8))
        } catch let error as ExitCode {
            throw error
        } catch {
            FileHandle.standardError.write(Data("tokenwatch replay: \(error)\n".utf8))
            throw Exit.runtime
        }
    }

    private func replay<S: ReplaySink>(_ replayer: Replayer, _ configuration: TokenwatchConfiguration, _ sink: inout S) throws -> ReplaySummary {
        if let input {
            return try replayer.replayFile(path: input, partitions: partitions, sink: &sink)
        }
        // --topic replays that topic alone, in the format inputs: gives it (native when it is not listed).
        let inputs = topic.map { t in [configuration.effectiveInputs.first { $0.topic == t } ?? InputSettings(topic: t)] }
            ?? configuration.effectiveInputs
        return try replayer.replayTopics(brokers: configuration.kafka.brokers, inputs: inputs,
                                         librdkafka: configuration.kafka.librdkafka, sink: &sink)
    }
}
