import ArgumentParser
import Foundation
import TokenwatchConfig
import TokenwatchCore
import TokenwatchService

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Why a person's effective usage differs from raw: rule readings, thresholds, alerts and evidence, hourly usage.",
        discussion: """
        Rebuilds the state deterministically (as `replay` does) from the input topic, or from --input, up to --at \
        (default: everything there is), then prints every rule's reading for USER against its thresholds, the \
        alerts (firing and resolved) with their evidence, and usage per hour over --window. For a person nothing \
        fired for, it says which condition of each rule did not hold. The daemon answers the same, live, at \
        /users/<id>.
        """)

    @Argument(help: "The person's user_id.") var user: String
    @Option(help: "Window for the hourly usage (default: 24h when configured, else the first window).") var window: String?
    @Option(help: "Explain as of this event time (RFC 3339 or epoch ms): the last snapshot at or before it.") var at: String?
    @Option(help: "JSON-lines file of events (.jsonl or .jsonl.gz) instead of the input topic.") var input: String?
    @Option(help: "With --input: partitions of the live topic (librdkafka's key partitioner), as in replay.") var partitions: Int32 = 8
    @Option(help: "Without --input: the topic to read (default kafka.input_topic).") var topic: String?
    @OptionGroup var kafka: KafkaClientOptions
    @Flag(help: "Print the tokenwatch.user.v1 JSON document instead of text.") var json = false

    func validate() throws {
        if input != nil && kafka.brokers != nil { throw ValidationError("give --input FILE or --brokers B, not both") }
        if partitions < 1 { throw ValidationError("--partitions must be at least 1") }
        if user.isEmpty { throw ValidationError("give a user id") }
    }

    func run() throws {
        let configuration = try kafka.load()
        let names = configuration.windows.map(\.name)
        let chosen = window ?? (names.contains("24h") ? "24h" : names.first ?? "1h")
        guard names.contains(chosen) else {
            throw ValidationError("unknown window '\(chosen)'; configured: \(names.joined(separator: ", "))")
        }
        let atMs = try at.map(parseTime)
        let replayer = Replayer(engine: configuration.engine, inputTopic: topic ?? configuration.kafka.inputTopic, from: nil,
                                to: atMs, logger: makeLogger("tokenwatch.explain"), progress: ProgressReporter(enabled: false))
        var sink = UserAlertSink(userId: user)
        do {
            if let input {
                _ = try replayer.replayFile(path: input, partitions: partitions, sink: &sink)
            } else {
                _ = try replayer.replayTopic(brokers: configuration.kafka.brokers, topic: topic ?? configuration.kafka.inputTopic,
                                             librdkafka: configuration.kafka.librdkafka, sink: &sink)
            }
        } catch {
            FileHandle.standardError.write(Data("tokenwatch explain: \(error)\n".utf8))
            throw Exit.runtime
        }
        guard let engine = replayer.finalEngine, let explanation = engine.explain(user, window: chosen) else {
            FileHandle.standardError.write(Data("tokenwatch explain: no event of user '\(user)' in the input\n".utf8))
            throw Exit.runtime
        }
        let text = json ? String(decoding: explanation.json(alerts: sink.alerts), as: UTF8.self) + "\n"
                        : ExplanationText.render(explanation, alerts: sink.alerts)
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}

/// Keeps the alert messages of one person from a replay's outputs; boards and dead letters are dropped.
struct UserAlertSink: ReplaySink {
    let needle: [UInt8]
    var alerts: [[UInt8]] = []

    init(userId: String) {
        var w = JSONWriter()
        w.string(userId)
        needle = Array("\"user_id\":".utf8) + w.bytes
    }

    mutating func write(_ record: OutputRecord) throws {
        if record.kind == .alert && record.value.firstRange(of: needle) != nil { alerts.append(record.value) }
    }

    mutating func finish() throws {}
}
