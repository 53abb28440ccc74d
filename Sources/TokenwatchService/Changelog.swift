import TokenwatchCore

/// The changelog topic's record format: a stamped checkpoint file cut into chunks, so a standby (or any
/// instance that becomes active) restores the last active instance's state instead of re-reading the input.
///
/// Each chunk's key is `<group_id>/state/<slot>/<index>`, so deployments that share the topic never mix.
/// Writes alternate between two slots, so while one checkpoint is being written (or was cut short by a
/// crash) the previous complete one stays readable, and on a compacted topic the latest value per key is
/// all that is kept. A chunk's value is a fixed header (magic,
/// the checkpoint's id, its progress, its chunk index and count, its total length and hash) and the bytes.
enum ChangelogRecord {
    static let magic: [UInt8] = Array("TWCL".utf8)
    static let version: UInt8 = 1
    /// Magic, version, slot, id, progress, time, index, count, length, hash, and a CRC-32 of those.
    static let headerSize = 4 + 1 + 1 + 8 + 8 + 8 + 4 + 4 + 8 + 8 + 4
    /// Well under every broker's default `message.max.bytes` (1 MB).
    static let chunkBytes = 512 * 1024

    /// One checkpoint's identity and place in time, as every chunk of it carries.
    struct Stamp: Equatable {
        /// Random per write: chunks of one checkpoint share it, so a slot never mixes two checkpoints.
        var id: UInt64
        /// How far the state has read: the sum of its next offsets. Positions only grow, whichever
        /// instance wrote them, so the further state is the newer one.
        var progress: Int64
        /// Wall-clock time of the write, to order two writes of the same progress.
        var writtenAtMs: Int64
        var totalBytes: UInt64
        var hash: UInt64

        /// The progress of a state whose next offsets are `positions` (-1: nothing read yet).
        static func progress(of positions: [Int32: Int64]) -> Int64 { positions.values.reduce(0) { $0 + max(0, $1) } }

        /// Orders checkpoints: further progress first, then the later write (then the id, so the order is total).
        func isNewer(than other: Stamp) -> Bool {
            (progress, writtenAtMs, id) > (other.progress, other.writtenAtMs, other.id)
        }
    }

    /// The chunks of `file` as (key, value) records, in slot `slot` of `group`'s.
    static func records(of file: [UInt8], group: String, slot: Int, stamp: Stamp) -> [(key: [UInt8], value: [UInt8])] {
        let count = max(1, (file.count + chunkBytes - 1) / chunkBytes)
        return (0..<count).map { index in
            let range = (index * chunkBytes)..<min(file.count, (index + 1) * chunkBytes)
            var value = magic + [version, UInt8(slot)]
            for field in [stamp.id, UInt64(bitPattern: stamp.progress), UInt64(bitPattern: stamp.writtenAtMs)] { value.appendBigEndian(field) }
            value.appendBigEndian(UInt32(index))
            value.appendBigEndian(UInt32(count))
            value.appendBigEndian(stamp.totalBytes)
            value.appendBigEndian(stamp.hash)
            value.appendBigEndian(value.withUnsafeBytes { KeyPartitioner.crc32($0) })
            value += file[range]
            return (Array("\(group)/state/\(slot)/\(index)".utf8), value)
        }
    }

    /// A decoded chunk; nil for anything that is not one (another version, a short or damaged header).
    struct Chunk {
        var slot: Int
        var stamp: Stamp
        var index: Int
        var count: Int
        var bytes: ArraySlice<UInt8>
    }

    static func chunk(_ value: UnsafeRawBufferPointer) -> Chunk? {
        guard value.count >= headerSize, value.starts(with: magic), value[4] == version, value[5] < 2 else { return nil }
        func u64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 << 8 | UInt64(value[at + $1]) } }
        func u32(_ at: Int) -> Int { Int((0..<4).reduce(UInt32(0)) { $0 << 8 | UInt32(value[at + $1]) }) }
        // A damaged header must not pass for a chunk of an intact checkpoint (its stamp would match).
        guard UInt32(u32(headerSize - 4)) == KeyPartitioner.crc32(UnsafeRawBufferPointer(rebasing: value[..<(headerSize - 4)])) else { return nil }
        let stamp = Stamp(id: u64(6), progress: Int64(bitPattern: u64(14)), writtenAtMs: Int64(bitPattern: u64(22)),
                          totalBytes: u64(38), hash: u64(46))
        let index = u32(30), count = u32(34)
        // Bounded: a damaged count or length can never make the assembler reserve memory for it.
        guard count > 0, index < count, stamp.totalBytes <= UInt64(count) * UInt64(chunkBytes) else { return nil }
        return Chunk(slot: Int(value[5]), stamp: stamp, index: index, count: count, bytes: ArraySlice(value[headerSize...]))
    }

    /// The key prefix of `group`'s chunks.
    static func keyPrefix(group: String) -> [UInt8] { Array("\(group)/state/".utf8) }

    /// The hash every chunk carries, over the whole file.
    static func hash(_ file: [UInt8]) -> UInt64 {
        file.withUnsafeBytes { ByteHash.hash($0, seed: 0x5457_434C) }
    }
}

/// Rebuilds checkpoints from changelog chunks read in any order, keeping per slot the newest checkpoint
/// seen (by progress, then time); `newest` is the newest one whose chunks are all there and whose hash matches.
struct ChangelogAssembler {
    private struct Slot {
        var stamp: ChangelogRecord.Stamp
        var count: Int
        var chunks: [Int: ArraySlice<UInt8>] = [:]
    }

    private var slots: [Slot?] = [nil, nil]
    /// Records that are not changelog chunks (another version, a damaged header), or of an older checkpoint.
    private(set) var ignored = 0

    mutating func add(_ value: UnsafeRawBufferPointer) {
        guard let chunk = ChangelogRecord.chunk(value) else { ignored += 1; return }
        if let slot = slots[chunk.slot], slot.stamp == chunk.stamp {
            slots[chunk.slot]!.chunks[chunk.index] = chunk.bytes
        } else if slots[chunk.slot].map({ chunk.stamp.isNewer(than: $0.stamp) }) ?? true {
            // Chunks may be read in any order (a topic of several partitions, compaction): the newer
            // checkpoint in a slot replaces the older, and an older one's chunks are passed over.
            slots[chunk.slot] = Slot(stamp: chunk.stamp, count: chunk.count, chunks: [chunk.index: chunk.bytes])
        } else {
            ignored += 1
        }
    }

    /// The newest complete, intact checkpoint file and its stamp.
    var newest: (stamp: ChangelogRecord.Stamp, file: [UInt8])? {
        complete.max { $1.stamp.isNewer(than: $0.stamp) }
    }

    /// The stamps of the slots whose chunks are all there (cheap: nothing is assembled or hashed).
    var completeStamps: [ChangelogRecord.Stamp] {
        slots.compactMap { slot in slot.flatMap { $0.chunks.count == $0.count ? $0.stamp : nil } }
    }

    /// Every slot's checkpoint whose chunks are all there and whose hash matches.
    var complete: [(stamp: ChangelogRecord.Stamp, file: [UInt8])] {
        slots.compactMap { slot -> (stamp: ChangelogRecord.Stamp, file: [UInt8])? in
            guard let slot, slot.chunks.count == slot.count else { return nil }
            var file: [UInt8] = []
            file.reserveCapacity(Int(slot.stamp.totalBytes))
            for i in 0..<slot.count { file += slot.chunks[i]! }
            guard UInt64(file.count) == slot.stamp.totalBytes, ChangelogRecord.hash(file) == slot.stamp.hash else { return nil }
            return (slot.stamp, file)
        }
    }
}

extension Array where Element == UInt8 {
    mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        let bytes = T.bitWidth / 8
        for i in (0..<bytes).reversed() { append(UInt8(truncatingIfNeeded: value >> (i * 8))) }
    }
}
