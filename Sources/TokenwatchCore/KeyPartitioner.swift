/// librdkafka's default partitioner for keyed messages (`consistent_random`): CRC-32 of the key
/// modulo the partition count. kcat and `tokenwatch loadgen` use it, so a file replay that assigns
/// partitions this way sees each partition's events in the same order as the live topic.
public enum KeyPartitioner {
    private static let table: [UInt32] = (0..<256).map { i -> UInt32 in
        var c = UInt32(i)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// CRC-32 (IEEE, as zlib computes it).
    public static func crc32(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return c ^ 0xFFFF_FFFF
    }

    /// The partition librdkafka would pick for `key` among `partitions`.
    public static func partition(key: UnsafeRawBufferPointer, partitions: Int32) -> Int32 {
        Int32(crc32(key) % UInt32(max(partitions, 1)))
    }
}
