import Testing
import TokenwatchCore
@testable import TokenwatchService

@Suite("Changelog records: a checkpoint cut into chunks, reassembled in any order, damage passed over")
struct ChangelogTests {
    /// A file of `size` bytes that differs with `seed`.
    static func file(_ size: Int, seed: UInt64) -> [UInt8] {
        var rng = SplitMix(seed: seed)
        return (0..<size).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    }

    static func stamp(_ file: [UInt8], progress: Int64, at: Int64 = 1_000, id: UInt64 = 7) -> ChangelogRecord.Stamp {
        ChangelogRecord.Stamp(id: id, progress: progress, writtenAtMs: at, totalBytes: UInt64(file.count), hash: ChangelogRecord.hash(file))
    }

    static func records(_ file: [UInt8], slot: Int, progress: Int64, at: Int64 = 1_000, id: UInt64 = 7) -> [[UInt8]] {
        ChangelogRecord.records(of: file, group: "g", slot: slot, stamp: stamp(file, progress: progress, at: at, id: id)).map(\.value)
    }

    static func assemble(_ values: [[UInt8]]) -> ChangelogAssembler {
        var a = ChangelogAssembler()
        for v in values { v.withUnsafeBytes { a.add($0) } }
        return a
    }

    @Test func chunksRoundTripInAnyOrder() {
        let f = Self.file(ChangelogRecord.chunkBytes * 3 + 17, seed: 1)
        let values = Self.records(f, slot: 0, progress: 10)
        #expect(values.count == 4)
        #expect(values.allSatisfy { $0.count <= ChangelogRecord.chunkBytes + ChangelogRecord.headerSize })
        #expect(Self.assemble(values).newest?.file == f)
        #expect(Self.assemble(values.reversed()).newest?.file == f)
        #expect(Self.assemble([values[2], values[0], values[3], values[1]]).newest?.stamp.progress == 10)
    }

    @Test func anEmptyFileIsOneChunk() {
        let values = Self.records([], slot: 1, progress: 0)
        #expect(values.count == 1)
        #expect(Self.assemble(values).newest?.file == [])
    }

    @Test func aMissingChunkLeavesTheOtherSlot() {
        let old = Self.file(1_000, seed: 2), new = Self.file(ChangelogRecord.chunkBytes * 2, seed: 3)
        let newValues = Self.records(new, slot: 1, progress: 20)
        // A crash after the first chunk of the newer write: the older, complete one is what there is.
        let a = Self.assemble(Self.records(old, slot: 0, progress: 10) + [newValues[0]])
        #expect(a.newest?.file == old)
        #expect(Self.assemble(Self.records(old, slot: 0, progress: 10) + newValues).newest?.file == new)
    }

    @Test func aFlippedByteFailsTheHash() {
        let f = Self.file(5_000, seed: 4), older = Self.file(300, seed: 5)
        var values = Self.records(f, slot: 0, progress: 20)
        values[0][ChangelogRecord.headerSize + 100] ^= 0x10
        #expect(Self.assemble(values).newest == nil)
        #expect(Self.assemble(Self.records(older, slot: 1, progress: 5) + values).newest?.file == older)
    }

    @Test func damagedHeadersAreIgnoredNeverTrusted() {
        let f = Self.file(2_000, seed: 6)
        var values = Self.records(f, slot: 0, progress: 3)
        var hugeCount = values[0]
        for i in 34..<38 { hugeCount[i] = 0xFF }  // a chunk count of 4 billion: no assembler reserves for it
        var otherVersion = values[0]
        otherVersion[4] = 9
        let a = Self.assemble([hugeCount, otherVersion, Array(values[0].prefix(20)), Array("noise".utf8)])
        #expect(a.newest == nil)
        #expect(a.ignored == 4)
        values.insert(contentsOf: [hugeCount, otherVersion], at: 0)
        #expect(Self.assemble(values).newest?.file == f)
    }

    @Test func theFurthestStateWinsWhoeverWroteIt() {
        let a = Self.file(700, seed: 7), b = Self.file(800, seed: 8), c = Self.file(900, seed: 9)
        // Two instances' writes interleaved: progress decides, then the write time.
        let values = Self.records(a, slot: 0, progress: 50, at: 3_000, id: 1) + Self.records(b, slot: 1, progress: 70, at: 1_000, id: 2)
        #expect(Self.assemble(values).newest?.file == b)
        let tie = Self.records(c, slot: 0, progress: 70, at: 2_000, id: 3)
        #expect(Self.assemble(values + tie).newest?.file == c)
        // An older write of a slot read after a newer one (another partition, compaction) is passed over.
        let slotZero = Self.records(c, slot: 0, progress: 70, at: 2_000, id: 3) + Self.records(a, slot: 0, progress: 50, at: 3_000, id: 1)
        #expect(Self.assemble(slotZero).newest?.file == c)
    }

    @Test func aSlotReplacedChunkByChunkNeverMixesTwoCheckpoints() {
        let first = Self.file(ChangelogRecord.chunkBytes * 2 + 5, seed: 10), second = Self.file(ChangelogRecord.chunkBytes * 2 + 5, seed: 11)
        let v1 = Self.records(first, slot: 0, progress: 10, id: 1), v2 = Self.records(second, slot: 0, progress: 11, id: 2)
        // Compaction kept the newer write's first chunk and the older write's others: no complete checkpoint.
        #expect(Self.assemble([v1[1], v1[2], v2[0]]).newest == nil)
        #expect(Self.assemble([v1[1], v2[0], v1[2], v2[2], v2[1]]).newest?.file == second)
    }
}
