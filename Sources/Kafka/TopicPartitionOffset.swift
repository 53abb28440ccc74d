/// A partition and an offset in it; what the offset means (next offset to read, a timestamp to look up,
/// a logical offset such as `-2` for the beginning) depends on the call it is passed to.
public struct TopicPartitionOffset: Hashable, Sendable {
    /// The topic name.
    public var topic: String
    /// The partition number, from 0.
    public var partition: Int32
    /// The offset; librdkafka's logical offsets are ``beginning``, ``end``, ``stored`` and ``invalid``.
    public var offset: Int64

    /// Creates a topic-partition-offset triple.
    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }

    /// The topic and partition without the offset.
    public var topicPartition: TopicPartition { TopicPartition(topic: topic, partition: partition) }

    /// `RD_KAFKA_OFFSET_BEGINNING` (-2): the oldest offset still in the log.
    public static let beginning: Int64 = -2
    /// `RD_KAFKA_OFFSET_END` (-1): the offset after the newest message.
    public static let end: Int64 = -1
    /// `RD_KAFKA_OFFSET_STORED` (-1000): the group's committed offset.
    public static let stored: Int64 = -1000
    /// `RD_KAFKA_OFFSET_INVALID` (-1001): no offset (e.g. nothing committed yet).
    public static let invalid: Int64 = -1001
}
