/// Which engine shard owns a user, when one engine's partitions are spread over several shards.
///
/// A shard owns the partitions `p` with `p % shards == index`, and with them the users keyed to those
/// partitions by the producer's default partitioner (CRC-32 of the key, `KeyPartitioner`). An event
/// not keyed by its user goes to the shard its user's keyed events go to, so a user never splits.
public struct ShardRoute: Sendable, Equatable {
    public var index: Int
    public var shards: Int
    /// Partitions of the input topic users are keyed over, and the engine partition id of its first.
    public var keyedPartitions: Int32
    public var keyedBase: Int32

    public init(index: Int, shards: Int, keyedPartitions: Int32, keyedBase: Int32 = 0) {
        self.index = index
        self.shards = max(shards, 1)
        self.keyedPartitions = max(keyedPartitions, 1)
        self.keyedBase = keyedBase
    }

    /// The shard of partition `p`.
    @inline(__always) public func shard(ofPartition p: Int32) -> Int { Int(p) % shards }

    /// The shard of the user with these id bytes.
    public func shard(ofUser id: UnsafeRawBufferPointer) -> Int {
        shard(ofPartition: keyedBase + KeyPartitioner.partition(key: id, partitions: keyedPartitions))
    }
}

/// An event one shard admitted (decoded, de-duplicated on its partition, timed against its partition's
/// watermark) for a user another shard owns; that shard counts it (see `Engine.receive`).
public struct ForwardedEvent: Sendable, Equatable {
    /// When it may count (as a late event does on its partition) and which shard counts it.
    public struct Admission: Sendable, Equatable {
        public var releaseAt: Int64
        public var isLate: Bool
        public var shard: Int
    }

    public var payload: [UInt8]
    public var partition: Int32
    public var offset: Int64
    public var receivedAtMs: Int64
    public var admission: Admission
    /// An OTLP usage event: its tool's attribution counts it where it is counted.
    public var attributed = false
    /// An OTLP metric point, made a delta where its user's series live (see `Engine.receiveMetric`); the
    /// payload is then only what admitted it.
    public var metric: OTLPMetricPoint? = nil
}
