import TokenwatchConfig
import TokenwatchCore

/// One poll's messages, copied per engine shard, so the shards count them on their own threads.
///
/// A message view is only valid inside the consumer's callback, so its bytes are copied into the
/// batch of its partition's shard (buffers keep their capacity: no allocation per message once warm).
struct ShardBatches {
    /// Where one message's bytes are in its batch, and what the engine needs with them.
    struct Item {
        var start: Int
        var count: Int
        var keyStart: Int
        /// -1: no key to check (a file replay's line).
        var keyCount: Int
        var partition: Int32
        var offset: Int64
        /// The Kafka timestamp, or 0 when the message has none.
        var timestampMs: Int64
        var format: InputSettings.Format
    }

    /// One shard's messages.
    struct Batch: Sendable {
        var bytes: [UInt8] = []
        var items: [Item] = []
    }

    private var batches: [Batch]

    init(shards: Int) {
        batches = Array(repeating: Batch(), count: shards)
    }

    var isEmpty: Bool { batches.allSatisfy(\.items.isEmpty) }

    mutating func append(shard: Int, payload: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer, keyed: Bool = true,
                         format: InputSettings.Format, partition: Int32, offset: Int64, timestampMs: Int64?) {
        let start = batches[shard].bytes.count
        batches[shard].bytes.append(contentsOf: payload)
        batches[shard].bytes.append(contentsOf: key)
        batches[shard].items.append(Item(start: start, count: payload.count, keyStart: start + payload.count, keyCount: keyed ? key.count : -1,
                                         partition: partition, offset: offset, timestampMs: timestampMs ?? 0, format: format))
    }

    /// Counts each batch on its shard, the shards in parallel (`engine.parallel`), then empties the batches.
    mutating func process(into engine: inout ShardedEngine, receivedAtMs: Int64) {
        do {
            let work = batches
            let parallel = engine.parallel ?? { count, body in for i in 0..<count { body(i) } }
            engine.withShardAccess { access in
                parallel(access.count) { i in Self.count(work[i], on: access, shard: i, receivedAtMs: receivedAtMs) }
            }
        }
        for i in batches.indices {
            batches[i].bytes.removeAll(keepingCapacity: true)
            batches[i].items.removeAll(keepingCapacity: true)
        }
    }

    private static func count(_ batch: Batch, on access: ShardAccess, shard i: Int, receivedAtMs: Int64) {
        guard !batch.items.isEmpty else { return }
        batch.bytes.withUnsafeBytes { raw in
            access.withShard(i) { engine in
                for item in batch.items {
                    let payload = UnsafeRawBufferPointer(rebasing: raw[item.start..<(item.start + item.count)])
                    let key = item.keyCount < 0 ? nil : UnsafeRawBufferPointer(rebasing: raw[item.keyStart..<(item.keyStart + item.keyCount)])
                    InputRouter.process(payload, format: item.format, into: &engine, partition: item.partition, offset: item.offset,
                                        receivedAtMs: receivedAtMs == 0 ? item.timestampMs : receivedAtMs,
                                        referenceTimeMs: item.timestampMs == 0 ? nil : item.timestampMs, key: key)
                }
            }
        }
    }
}
