/// One partition's state at an epoch time: what a new owner restores (`PartitionedEngine.init(restoring:)`).
public struct PartitionEpochState: Sendable, Equatable {
    public var partition: Int32
    public var epoch: Int64
    /// The partition held nothing at snapshot times up to this one.
    public var start: Int64
    /// Forwards for the partition below this exchange log offset are in `state`.
    public var exchangePosition: Int64
    /// The partition's next input offset in `state` (-1: none read yet).
    public var nextOffset: Int64
    /// `Engine.checkpoint()` of the partition's shard.
    public var state: [UInt8]

    static let magic: [UInt8] = Array("TWEPOCH1".utf8)

    /// The bytes stored in the changelog (the shard's checkpoint carries its own checksum).
    public func encoded() -> [UInt8] {
        var w = BinaryWriter()
        w.bytes = Self.magic
        w.i32(partition); w.i64(epoch); w.i64(start); w.i64(exchangePosition); w.i64(nextOffset)
        w.bytes.append(contentsOf: state)
        return w.bytes
    }

    /// Decodes `encoded()` bytes; nil for anything else. The state itself is checked when restored.
    public init?(decoding bytes: [UInt8]) {
        guard bytes.count > Self.magic.count + 36, bytes[0..<Self.magic.count].elementsEqual(Self.magic) else { return nil }
        var r = BinaryReader(bytes: bytes, i: Self.magic.count)
        guard let partition = try? r.i32(), let epoch = try? r.time(), let start = try? r.time(),
              let position = try? r.i64(), let next = try? r.i64(), partition >= 0, position >= 0, next >= -1 else { return nil }
        self.init(partition: partition, epoch: epoch, start: start, exchangePosition: position, nextOffset: next,
                  state: Array(bytes[r.i...]))
    }

    public init(partition: Int32, epoch: Int64, start: Int64, exchangePosition: Int64, nextOffset: Int64, state: [UInt8]) {
        self.partition = partition
        self.epoch = epoch
        self.start = start
        self.exchangePosition = exchangePosition
        self.nextOffset = nextOffset
        self.state = state
    }

    /// The epochs every one of `partitions` partitions holds (any of them restores every partition), given
    /// the epochs each holds.
    public static func complete(_ held: [Int32: Set<Int64>], partitions: Int32) -> Set<Int64> {
        var common: Set<Int64>?
        for p in 0..<partitions {
            let epochs = held[p] ?? []
            common = common.map { $0.intersection(epochs) } ?? epochs
        }
        return common ?? []
    }
}
