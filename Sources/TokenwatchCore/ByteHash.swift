/// A fast, seeded 64-bit hash of a byte string (wyhash-style mixing), stable across runs and platforms.
public enum ByteHash {
    @inline(__always) static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let r = a.multipliedFullWidth(by: b)
        return r.high ^ r.low
    }

    @inline(__always) static func load64(_ p: UnsafeRawPointer, _ i: Int) -> UInt64 {
        UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self))
    }

    /// Hash of `count` bytes at `base`.
    @inlinable public static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
        hashBytes(bytes, seed: seed)
    }

    @usableFromInline static func hashBytes(_ bytes: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
        let p0: UInt64 = 0xa076_1d64_78bd_642f
        let p1: UInt64 = 0xe703_7ed1_a0b4_28db
        let p2: UInt64 = 0x8ebc_6af0_9c88_c6e3
        let n = bytes.count
        var h = seed ^ mix(seed ^ p0, p1) ^ UInt64(n)
        guard n > 0, let base = bytes.baseAddress else { return mix(h, p2) }
        var i = 0
        while i + 16 <= n {
            h = mix(load64(base, i) ^ p1, load64(base, i + 8) ^ h)
            i += 16
        }
        var a: UInt64 = 0
        var b: UInt64 = 0
        let rest = n - i
        if rest >= 8 {
            a = load64(base, i)
            b = load64(base, n - 8)
        } else if rest > 0 {
            // Up to seven bytes: read them one at a time into a.
            var shift: UInt64 = 0
            for j in i..<n {
                a |= UInt64(bytes[j]) << shift
                shift += 8
            }
            b = UInt64(rest)
        }
        return mix(p1 ^ UInt64(n), mix(a ^ p1, b ^ h))
    }
}
