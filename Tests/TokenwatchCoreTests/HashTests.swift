import Foundation
import Testing
@testable import TokenwatchCore

/// Runs `python3` with `script`; returns its standard output.
func runPython(_ script: String, arguments: [String] = []) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script] + arguments
    let out = Pipe()
    process.standardOutput = out
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw CocoaError(.executableLoad) }
    return String(decoding: data, as: UTF8.self)
}

/// Deterministic bytes that are not a repeating pattern of short period.
func testBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var rng = SplitMix64(seed: seed)
    var out: [UInt8] = []
    out.reserveCapacity(count)
    while out.count < count {
        let v = rng.next()
        for k in 0..<8 where out.count < count { out.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(k)))) }
    }
    return out
}

@Suite("SHA-256 and XXH64")
struct HashTests {
    static func hex(_ s: String) -> String { SHA256.hex(SHA256.hash(Array(s.utf8))) }

    @Test func nistVectors() {
        // FIPS 180-4 examples (NIST CSRC "SHA256.pdf") and the classic empty-string digest.
        #expect(Self.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Self.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Self.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(Self.hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu")
                == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
    }

    @Test func oneMillionA() {
        let a = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(SHA256.hex(SHA256.hash(a)) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        // The same fed in uneven pieces.
        var s = SHA256()
        var i = 0, step = 1
        while i < a.count {
            let n = min(step, a.count - i)
            a[i..<(i + n)].withUnsafeBytes { s.update($0) }
            i += n
            step = step * 3 % 1_021 + 1
        }
        #expect(SHA256.hex(s.finalize()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Every padding case (lengths around 55/56/64 and their multiples) and multi-block inputs,
    /// against Python's hashlib.
    @Test func matchesHashlibAcrossLengths() throws {
        let lengths = [0, 1, 2, 3, 31, 32, 33, 55, 56, 57, 63, 64, 65, 111, 112, 119, 120, 127, 128, 129, 191, 192, 193,
                       1_000, 4_095, 4_096, 4_097, 65_535, 65_536, 65_537, 100_003]
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tw-sha-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var ours: [String] = []
        for (k, n) in lengths.enumerated() {
            let data = testBytes(n, seed: UInt64(k + 1))
            try Data(data).write(to: dir.appendingPathComponent("\(k)"))
            ours.append(SHA256.hex(SHA256.hash(data)))
            // Streaming in pieces of 1..97 bytes gives the same digest.
            var s = SHA256()
            var i = 0, piece = 1
            while i < n {
                let m = min(piece, n - i)
                data[i..<(i + m)].withUnsafeBytes { s.update($0) }
                i += m
                piece = piece % 97 + 1
            }
            #expect(SHA256.hex(s.finalize()) == ours[k], "streamed, length \(n)")
        }
        let script = """
        import hashlib, os, sys
        d = sys.argv[1]
        for k in range(int(sys.argv[2])):
            print(hashlib.sha256(open(os.path.join(d, str(k)), 'rb').read()).hexdigest())
        """
        let theirs = try runPython(script, arguments: [dir.path, String(lengths.count)]).split(separator: "\n").map(String.init)
        #expect(theirs == ours)
    }

    @Test func finalizeLeavesTheHasherAsItWas() {
        var s = SHA256()
        s.update(Array("ab".utf8))
        _ = s.finalize()
        s.update(Array("c".utf8))
        #expect(SHA256.hex(s.finalize()) == Self.hex("abc"))
    }

    /// XXH64 reference values (from the xxHash library, libxxhash 0.8), covering the 32-byte
    /// stripes and each tail (8-, 4- and 1-byte steps), with seed 0 and another seed.
    @Test func xxh64Vectors() {
        func h(_ b: [UInt8], _ seed: UInt64 = 0) -> UInt64 { XXH64.hash(b, seed: seed) }
        let seed: UInt64 = 0x9E37_79B1_85EB_CA8D
        #expect(h([]) == 0xEF46_DB37_51D8_E999)
        #expect(h(Array("a".utf8)) == 0xD24E_C4F1_A98C_6E5B)
        #expect(h(Array("abc".utf8)) == 0x44BC_2CF5_AD77_0999)
        #expect(h(Array("abcd".utf8)) == 0xDE03_27B0_D25D_92CC)
        #expect(h(Array("Nobody inspects the spammish repetition".utf8)) == 0xFBCE_A83C_8A37_8BF1)
        let long = Array(repeating: Array(0...255), count: 4).flatMap { $0.map(UInt8.init) } + Array("xyz".utf8)
        #expect(h(long) == 0xE146_CB31_B65B_C21A)
        #expect(h([], seed) == 0x0B30_3D92_0EC3_49DF)
        #expect(h(Array("abc".utf8), seed) == 0x7E49_C9D7_E85A_4AB6)
        #expect(h(long, seed) == 0x26B0_0584_34C2_C368)
    }
}
