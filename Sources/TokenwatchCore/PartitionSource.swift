/// Where one engine partition's messages come from: an input topic and its own partition number.
///
/// With several inputs the engine numbers their partitions densely (the service's `InputTopics`), but a
/// dead letter must name the topic and partition a person can find the message in.
public struct PartitionSource: Sendable, Equatable {
    public var topic: String
    public var partition: Int32

    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }
}

extension Engine {
    /// The input topic and partition of engine partition `id`: from `partitionSources` when set,
    /// else `inputTopic` and the id itself (one input, numbered as Kafka numbers it).
    func source(of id: Int32) -> PartitionSource {
        if id >= 0, Int(id) < partitionSources.count { return partitionSources[Int(id)] }
        return PartitionSource(topic: inputTopic, partition: id)
    }
}
