import Kafka
import TokenwatchConfig
import TokenwatchCore

/// The daemon's input topics with their partition counts, numbered as one run of dense engine
/// partition ids: the first topic's partitions are 0..<n₀, the next topic's n₀..<n₀+n₁, and so on.
///
/// The numbering depends only on the list and the counts, both recorded in the checkpoint, so a restored
/// engine's positions mean the same partitions; a change of either rebuilds the state (`StateIdentity`).
/// With one input the ids are Kafka's own partition numbers, as before there were several inputs.
public struct InputTopics: Sendable, Equatable {
    /// One input topic, its format, its partition count and its first engine partition id.
    public struct Input: Sendable, Equatable {
        public var topic: String
        public var format: InputSettings.Format
        public var partitions: Int
        public var firstId: Int32
    }

    public private(set) var inputs: [Input] = []

    /// `settings` in order, with `counts[i]` partitions for the i-th.
    public init(_ settings: [InputSettings], counts: [Int]) {
        var next: Int32 = 0
        for (input, count) in zip(settings, counts) {
            inputs.append(Input(topic: input.topic, format: input.format, partitions: count, firstId: next))
            next += Int32(count)
        }
    }

    public var topics: [String] { inputs.map(\.topic) }
    /// Every engine partition id.
    public var totalPartitions: Int { inputs.reduce(0) { $0 + $1.partitions } }
    /// The one-input shape: one native topic, engine ids equal to Kafka's.
    public var isSingleNative: Bool { inputs.count == 1 && inputs[0].format == .tokenwatch }

    /// The engine partition id of `partition` of input number `index`; nil outside its partitions.
    public func engineId(input index: Int, partition: Int32) -> Int32? {
        guard inputs.indices.contains(index), partition >= 0, Int(partition) < inputs[index].partitions else { return nil }
        return inputs[index].firstId + partition
    }

    /// The engine partition id of `partition` of `topic`; nil for a topic that is not an input.
    public func engineId(topic: String, partition: Int32) -> Int32? {
        inputs.firstIndex { $0.topic == topic }.flatMap { engineId(input: $0, partition: partition) }
    }

    /// The engine ids of those of `parts` that are input partitions.
    public func engineIds(_ parts: [TopicPartition]) -> [Int32] {
        parts.compactMap { engineId(topic: $0.topic, partition: $0.partition) }
    }

    /// The input number and Kafka partition of engine partition `id`.
    public func locate(_ id: Int32) -> (input: Int, partition: Int32)? {
        guard let i = inputs.lastIndex(where: { $0.firstId <= id }), id - inputs[i].firstId < Int32(inputs[i].partitions) else {
            return nil
        }
        return (i, id - inputs[i].firstId)
    }

    /// The topic and partition engine partition `id` reads.
    public func source(of id: Int32) -> PartitionSource? {
        locate(id).map { PartitionSource(topic: inputs[$0.input].topic, partition: $0.partition) }
    }

    /// Every engine partition's source, indexed by id (`Engine.partitionSources`).
    public var sources: [PartitionSource] {
        inputs.flatMap { input in (0..<Int32(input.partitions)).map { PartitionSource(topic: input.topic, partition: $0) } }
    }

    /// The topic and Kafka partition of engine partition `id`, as a commit position.
    public func offset(of id: Int32, next: Int64) -> TopicPartitionOffset? {
        source(of: id).map { TopicPartitionOffset(topic: $0.topic, partition: $0.partition, offset: next) }
    }
}

// MARK: - Recorded in the checkpoint header

extension InputTopics {
    /// `ai-usage:tokenwatch:8,otel-logs:otlp:4`: what the checkpoint's `inputs=` line holds.
    public var headerText: String {
        inputs.map { "\($0.topic):\($0.format.rawValue):\($0.partitions)" }.joined(separator: ",")
    }

    /// The inputs a checkpoint header recorded; nil when the text is not one.
    public init?(headerText text: String) {
        var settings: [InputSettings] = []
        var counts: [Int] = []
        for item in text.split(separator: ",") {
            let parts = item.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 3, let format = InputSettings.Format(rawValue: String(parts[1])),
                  let count = Int(parts[2]), count >= 0, !parts[0].isEmpty else { return nil }
            settings.append(InputSettings(topic: String(parts[0]), format: format))
            counts.append(count)
        }
        guard !settings.isEmpty else { return nil }
        self.init(settings, counts: counts)
    }

    /// Asks the brokers for every input's partition count; nil until all of them answer.
    static func discover(_ settings: [InputSettings], consumer: KafkaConsumer) -> InputTopics? {
        var counts: [Int] = []
        for input in settings {
            guard let n = try? consumer.partitionCount(topic: input.topic, timeout: .seconds(5)), n > 0 else { return nil }
            counts.append(n)
        }
        return InputTopics(settings, counts: counts)
    }
}
