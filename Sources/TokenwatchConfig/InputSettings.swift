/// One input topic and how its messages are written (an item of the `inputs:` list).
public struct InputSettings: Sendable, Equatable {
    /// How an input's messages are encoded.
    public enum Format: String, Sendable, Equatable, CaseIterable {
        /// tokenwatch's own JSON event, one per message (docs/events.md).
        case tokenwatch
        /// OTLP as the OpenTelemetry Collector's Kafka exporter writes it: protobuf or JSON, detected per message.
        case otlp
    }

    /// The Kafka topic (key `inputs[].topic`).
    public var topic: String
    /// Its encoding (key `inputs[].format`, default `tokenwatch`).
    public var format: Format

    public init(topic: String, format: Format = .tokenwatch) {
        self.topic = topic
        self.format = format
    }

    /// The compact form used by the environment and flags: `topic:format`.
    public var text: String { "\(topic):\(format.rawValue)" }
}

extension TokenwatchConfiguration {
    /// The inputs the daemon reads: `inputs:` when set, else `kafka.input_topic` as the one native input.
    public var effectiveInputs: [InputSettings] {
        inputs.isEmpty ? [InputSettings(topic: kafka.inputTopic)] : inputs
    }
}

extension ValueParser {
    /// The fields an `inputs:` item may have in YAML, in the order of the compact `topic:format` form.
    static let inputFields = ["topic", "format"]

    /// `topic` or `topic:format`, each topic once.
    static func inputs(_ items: [RawItem]) throws(ValueProblem) -> [InputSettings] {
        var inputs: [InputSettings] = []
        for item in items {
            let parts = item.text.split(separator: ":", omittingEmptySubsequences: false).map { String($0).trimmingBlanks() }
            guard parts.count <= 2, let name = parts.first, !name.isEmpty else {
                throw ValueProblem("\(item.text.quoted) is not {topic: NAME, format: tokenwatch|otlp} (or NAME:FORMAT)", line: item.line)
            }
            let topic: String
            do {
                topic = try Self.topic(name)
            } catch {
                throw ValueProblem(error.message, line: item.line)
            }
            let formatText = parts.count == 2 && !parts[1].isEmpty ? parts[1] : "tokenwatch"
            guard let format = InputSettings.Format(rawValue: formatText) else {
                throw ValueProblem("format \(formatText.quoted) of input \(topic.quoted) is neither tokenwatch nor otlp", line: item.line)
            }
            if inputs.contains(where: { $0.topic == topic }) {
                throw ValueProblem("lists the topic \(topic.quoted) twice: each input topic once", line: item.line)
            }
            inputs.append(InputSettings(topic: topic, format: format))
        }
        return inputs
    }
}
