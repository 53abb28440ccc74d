import Foundation
import Testing
@testable import TokenwatchCore

/// A checkpoint that is damaged, cut short, foreign, from another version or from other settings
/// must never restore, never trap and never allocate beyond its own size.
@Suite("Checkpoint hardening")
struct CheckpointHardeningTests {
    static func config() -> EngineConfiguration {
        var c = EngineTests.config()
        c.windows = [
            WindowSpec(name: "10m", lengthMs: 600_000, stepMs: 60_000),
            WindowSpec(name: "1h", lengthMs: 3_600_000, stepMs: 300_000),
            WindowSpec(name: "6h", lengthMs: 21_600_000, stepMs: 900_000),
            WindowSpec(name: "24h", lengthMs: 86_400_000, stepMs: 3_600_000),
        ]
        return c
    }

    /// A few hundred users over four partitions, with pending late events and dedup memory.
    static let streams = EngineTests.streams(seed: 21, partitions: 4, users: 300, events: 4_000)
    static let engine: Engine = EngineTests.run(streams, config: config(), interleaveSeed: 5).0
    static let bytes: [UInt8] = engine.checkpoint()

    /// A small checkpoint: every byte of it is flipped in turn.
    static let small: [UInt8] = {
        let s = EngineTests.streams(seed: 2, partitions: 1, users: 6, events: 40)
        return EngineTests.run(s, config: config(), interleaveSeed: 1).0.checkpoint()
    }()

    static let header = Engine.checkpointHeaderCount

    /// Recomputes the header's length and checksum after the body was edited.
    static func reseal(_ b: inout [UInt8]) {
        let length = UInt64(b.count - header)
        let sum = b.withUnsafeBytes { XXH64.hash(UnsafeRawBufferPointer(rebasing: $0[header...])) }
        for k in 0..<8 {
            b[8 + k] = UInt8(truncatingIfNeeded: length >> (8 * UInt64(k)))
            b[16 + k] = UInt8(truncatingIfNeeded: sum >> (8 * UInt64(k)))
        }
    }

    static func put(_ v: UInt64, at offset: Int, in b: inout [UInt8]) {
        for k in 0..<8 { b[offset + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(k))) }
    }

    static func get(at offset: Int, in b: [UInt8]) -> Int {
        var v: UInt64 = 0
        for k in 0..<8 { v |= UInt64(b[offset + k]) << (8 * UInt64(k)) }
        return Int(Int64(bitPattern: v))
    }

    /// Offsets of the first counts of the body: users, teams, partitions, and the first partition's ids.
    static func countOffsets(_ b: [UInt8], windows: Int) -> (users: Int, teams: Int, partitions: Int, ids: Int) {
        let users = header + 8 + 16 * windows + 6 * 8
        var at = users + 8
        let userCount = get(at: users, in: b)
        for _ in 0..<userCount { at += 8 + get(at: at, in: b) }
        let teams = at
        at += 8
        for _ in 0..<get(at: teams, in: b) { at += 8 + get(at: at, in: b) }
        let partitions = at + 8 * userCount
        // id (4), newest, first, next offset, oldest bucket, forgotten (8 each), then the id count.
        return (users, teams, partitions, partitions + 8 + 4 + 5 * 8)
    }

    static func restore(_ b: [UInt8], _ c: EngineConfiguration = config()) throws(CheckpointError) -> Engine {
        try Engine(configuration: c, restoring: b)
    }

    @Test func fixtureIsRich() {
        #expect(Self.engine.users.count == 300)
        #expect(Self.engine.windows.count == 4)
        #expect(Self.bytes.count > 50_000)
        #expect(Self.small.count < 8_000)
        // Restores, and encodes the same state again (the dedup table's slot order may differ, not its size).
        let restored = try? Self.restore(Self.bytes)
        #expect(restored?.checkpoint().count == Self.bytes.count)
    }

    @Test func truncationAtAnyLengthThrows() {
        var lengths = Set(0..<(Self.header + 48))
        let n = Self.bytes.count
        for k in 0..<240 { lengths.insert(Self.header + 48 + (n - Self.header - 48) * k / 240) }
        lengths.insert(n - 1)
        #expect(lengths.count >= 300)
        for length in lengths.sorted() where length < n {
            let cut = Array(Self.bytes.prefix(length))
            do {
                _ = try Self.restore(cut)
                Issue.record("restored from the first \(length) of \(n) bytes")
            } catch {
                #expect(error == .corrupt, "length \(length)")
            }
        }
        // Trailing bytes are damage too.
        #expect(throws: CheckpointError.corrupt) { try Self.restore(Self.bytes + [0]) }
    }

    /// Which error a flip at `position` must give: it says where the damage is.
    static func expectedError(flippingAt position: Int) -> CheckpointError? {
        switch position {
        case 0..<4: .notACheckpoint
        case 4..<8: nil  // some other version number
        case 8..<16: .corrupt  // the length no longer matches
        default: .checksumMismatch  // the checksum itself, or the body it covers
        }
    }

    static func expectFlipThrows(_ source: [UInt8], at position: Int, bit: Int) {
        var b = source
        b[position] ^= UInt8(1) << UInt8(bit)
        do {
            _ = try restore(b)
            Issue.record("restored with bit \(bit) of byte \(position) flipped")
        } catch {
            if let expected = expectedError(flippingAt: position) {
                #expect(error == expected, "byte \(position)")
            } else if case .unsupportedVersion = error {
            } else {
                Issue.record("byte \(position): \(error)")
            }
        }
    }

    @Test func everyFlippedByteOfASmallCheckpointThrows() {
        for position in Self.small.indices {
            Self.expectFlipThrows(Self.small, at: position, bit: position % 8)
        }
    }

    @Test func randomFlipsInALargeCheckpointThrow() {
        var rng = SplitMix64(seed: 99)
        for k in 0..<2_000 {
            // The header every time it comes round, else anywhere.
            let position = k < Self.header ? k : Int(rng.next() % UInt64(Self.bytes.count))
            Self.expectFlipThrows(Self.bytes, at: position, bit: Int(rng.next() % 8))
        }
    }

    @Test func hugeCountsWithAValidChecksumAreRefusedBeforeAllocating() throws {
        let offsets = Self.countOffsets(Self.bytes, windows: 4)
        #expect(Self.get(at: offsets.users, in: Self.bytes) == 300)
        #expect(Self.get(at: offsets.partitions, in: Self.bytes) == 4)
        for at in [offsets.users, offsets.teams, offsets.partitions, offsets.ids] {
            for value: UInt64 in [1 << 40, 0x7FFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF, 0x1_0000_0000,
                                  UInt64(Self.bytes.count)] {
                var b = Self.bytes
                Self.put(value, at: at, in: &b)
                Self.reseal(&b)
                #expect(throws: CheckpointError.corrupt) { try Self.restore(b) }
            }
        }
    }

    /// Valid checksum, but 8 bytes anywhere in the body overwritten: it may restore (a token count
    /// is any number), but restoring never traps nor hangs, and what restores encodes again.
    @Test func editedBodiesWithAValidChecksumNeverTrap() {
        var rng = SplitMix64(seed: 7)
        let values: [UInt64] = [1 << 40, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, 0xFFFF_FFFF_FFFF_FFFF,
                                0xFFFF_FFFF, 0x7FF8_0000_0000_0000 /* NaN */, 0]
        var restored = 0, refused = 0
        for _ in 0..<200 {
            var b = Self.bytes
            let at = Self.header + Int(rng.next() % UInt64(b.count - Self.header - 8))
            Self.put(values[Int(rng.next() % UInt64(values.count))], at: at, in: &b)
            Self.reseal(&b)
            do {
                let engine = try Self.restore(b)
                restored += 1
                _ = engine.checkpoint()
            } catch {
                refused += 1
            }
        }
        #expect(refused > 0)
        #expect(restored + refused == 200)
    }

    @Test func otherVersionsAreUnsupported() {
        for version: UInt32 in [1, 2, 3, 4, 5, 6, 9, 0xFFFF_FFFF] {
            var b = Self.bytes
            for k in 0..<4 { b[4 + k] = UInt8(truncatingIfNeeded: version >> (8 * UInt32(k))) }
            #expect(throws: CheckpointError.unsupportedVersion(version)) { try Self.restore(b) }
        }
        // The head of a version-2 checkpoint: magic, version, then its textual fingerprint.
        let v2 = Array("TWCK".utf8) + [2, 0, 0, 0] + [9, 0, 0, 0, 0, 0, 0, 0] + Array("windows=x".utf8)
        #expect(throws: CheckpointError.unsupportedVersion(2)) { try Self.restore(v2) }
        #expect(CheckpointError.unsupportedVersion(2).description.contains("version 2"))
        // Version 7 differs only in never holding a released id: it is read as it is.
        var v7 = Self.bytes
        v7[4] = 7
        #expect(throws: Never.self) { try Self.restore(v7) }
    }

    @Test func notACheckpoint() {
        #expect(throws: CheckpointError.notACheckpoint) { try Self.restore(Array("{\"json\":1}".utf8)) }
        #expect(throws: CheckpointError.notACheckpoint) { try Self.restore([1, 2, 3]) }
        #expect(throws: CheckpointError.corrupt) { try Self.restore([]) }
        #expect(throws: CheckpointError.corrupt) { try Self.restore(Array("TWC".utf8)) }
    }

    /// One change of each setting that shapes the state, and the name the error must give.
    static let structuralChanges: [(String, @Sendable (inout EngineConfiguration) -> Void)] = [
        ("windows", { $0.windows.removeLast() }),
        ("windows", { $0.windows[1].stepMs = 600_000 }),
        ("windows", { $0.windows[3].lengthMs = 2 * 86_400_000 }),
        ("snapshot_interval", { $0.snapshotIntervalMs = 120_000 }),
        ("allowed_lateness", { $0.allowedLatenessMs = 60_000 }),
        ("dedup_horizon", { $0.dedupHorizonMs = 3_600_000 }),
        ("dedup_max_ids", { $0.dedupMaxIdsPerPartition = 1_000 }),
        ("known_users_horizon", { $0.knownUsersHorizonMs = 7 * 86_400_000 }),
        ("max_message_bytes", { $0.maxMessageBytes = 65_536 }),
        ("windows, allowed_lateness", { $0.windows.swapAt(0, 1); $0.allowedLatenessMs = 1 }),
    ]

    @Test func structuralSettingChangesAreNamed() {
        for (setting, change) in Self.structuralChanges {
            var c = Self.config()
            change(&c)
            #expect(throws: CheckpointError.configurationChanged(setting)) { try Self.restore(Self.bytes, c) }
            #expect(CheckpointError.configurationChanged(setting).description.contains(setting))
        }
    }

    @Test func otherSettingsMayChange() throws {
        var c = Self.config()
        c.topK = 3
        c.rankBy = .outcomes
        c.serviceAccountPatterns = ["user1*"]
        c.maxFutureSkewMs = 60_000
        c.idleTimeoutMs = 1
        c.deadLetterPayloadCap = 10
        c.windows[0].name = "ten-minutes"
        c.detection = c.detection.allDisabled
        let engine = try Self.restore(Self.bytes, c)
        #expect(engine.users.count == 300)
    }

    @Test func everyErrorSaysWhatHappened() {
        let all: [CheckpointError] = [.notACheckpoint, .unsupportedVersion(2), .configurationChanged("windows"), .checksumMismatch, .corrupt]
        let texts = all.map(\.description)
        #expect(Set(texts).count == all.count)
        #expect(CheckpointError.checksumMismatch.description.contains("checksum"))
        #expect(CheckpointError.corrupt.description.contains("truncated"))
    }

    /// Restoring half-way and carrying on gives the outputs of the uninterrupted run, with several
    /// windows, byte for byte.
    @Test func roundTripContinuesExactly() throws {
        let streams = Self.streams
        let (_, uninterrupted) = EngineTests.run(streams, config: Self.config(), interleaveSeed: 5)
        let (_, outputs) = try EngineTests.run(streams, config: Self.config(), interleaveSeed: 5) { engine, step, _ in
            guard step % 25 == 0 else { return }
            let bytes = engine.checkpoint()
            engine = try Self.restore(bytes)
            #expect(engine.checkpoint().count == bytes.count)
        }
        #expect(outputs.count == uninterrupted.count)
        let same = outputs == uninterrupted
        #expect(same, "outputs differ after checkpoint and restore")
    }
}
