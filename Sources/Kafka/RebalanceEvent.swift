/// A change of a group consumer's assignment, recorded by the rebalance callback.
public enum RebalanceEvent: Sendable, Equatable {
    /// These partitions were added to the assignment (all of it with the eager protocol, the increment
    /// with the cooperative one).
    case assigned([TopicPartition])
    /// These partitions were taken away (or lost, e.g. after a session timeout).
    case revoked([TopicPartition])
}
