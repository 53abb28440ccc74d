/// Maps byte strings (user ids, team names) to dense `UInt32` ids without allocating for known strings.
public struct Interner: Sendable {
    private var bytes: [UInt8] = []
    private var starts: [UInt32] = [0]
    private var hashes: [UInt64] = []
    /// Open-addressing table of id + 1 (0 = empty).
    private var table: [UInt32]
    private var mask: Int

    public init(capacity: Int = 1024) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        table = Array(repeating: 0, count: size)
        mask = size - 1
    }

    /// Number of distinct strings interned.
    public var count: Int { hashes.count }

    /// Bytes of its arrays (`Engine.stateFootprint`).
    var footprintBytes: Int { bytes.capacity + starts.capacity * 4 + hashes.capacity * 8 + table.capacity * 4 }

    /// The id of `key`, interning it when new; `isNew` tells which.
    @inlinable public mutating func intern(_ key: UnsafeRawBufferPointer) -> (id: UInt32, isNew: Bool) {
        internBytes(key)
    }

    @usableFromInline mutating func internBytes(_ key: UnsafeRawBufferPointer) -> (id: UInt32, isNew: Bool) {
        let h = ByteHash.hash(key, seed: 0x7f4a_7c15)
        var slot = Int(truncatingIfNeeded: h) & mask
        while true {
            let entry = table[slot]
            if entry == 0 { break }
            let id = Int(entry - 1)
            if hashes[id] == h && equals(id, key) { return (UInt32(id), false) }
            slot = (slot + 1) & mask
        }
        let id = UInt32(hashes.count)
        hashes.append(h)
        bytes.append(contentsOf: key)
        starts.append(UInt32(bytes.count))
        table[slot] = id + 1
        if hashes.count * 2 > table.count { grow() }
        return (id, true)
    }

    /// The id of `key` when already interned.
    public func lookup(_ key: UnsafeRawBufferPointer) -> UInt32? {
        let h = ByteHash.hash(key, seed: 0x7f4a_7c15)
        var slot = Int(truncatingIfNeeded: h) & mask
        while true {
            let entry = table[slot]
            if entry == 0 { return nil }
            let id = Int(entry - 1)
            if hashes[id] == h && equals(id, key) { return UInt32(id) }
            slot = (slot + 1) & mask
        }
    }

    /// Convenience for tests and tools.
    public mutating func intern(_ string: String) -> UInt32 {
        var s = string
        return s.withUTF8 { intern(UnsafeRawBufferPointer($0)).id }
    }

    /// The string for `id`.
    public func string(_ id: UInt32) -> String {
        let s = Int(starts[Int(id)]), e = Int(starts[Int(id) + 1])
        return String(decoding: bytes[s..<e], as: UTF8.self)
    }

    /// Calls `body` with the bytes of `id`.
    public func withBytes<R>(_ id: UInt32, _ body: (ArraySlice<UInt8>) -> R) -> R {
        body(bytes[Int(starts[Int(id)])..<Int(starts[Int(id) + 1])])
    }

    /// Compares the strings of two ids byte-wise (the order used for tie-breaking).
    public func less(_ a: UInt32, _ b: UInt32) -> Bool {
        bytes.withUnsafeBufferPointer { p in starts.withUnsafeBufferPointer { s in Self.less(a, b, bytes: p, starts: s) } }
    }

    /// Calls `body` with `less` over the interner's buffers. A comparator that captures the interner
    /// itself (`users.less`) retains and releases its four arrays on every call once the optimiser
    /// specialises it into the caller; this one captures two buffer pointers.
    public func withLess<R>(_ body: ((UInt32, UInt32) -> Bool) throws -> R) rethrows -> R {
        try bytes.withUnsafeBufferPointer { p in
            try starts.withUnsafeBufferPointer { s in try body { a, b in Self.less(a, b, bytes: p, starts: s) } }
        }
    }

    @inline(__always) static func less(_ a: UInt32, _ b: UInt32, bytes p: UnsafeBufferPointer<UInt8>,
                                       starts: UnsafeBufferPointer<UInt32>) -> Bool {
        if a == b { return false }
        let a0 = Int(starts[Int(a)]), a1 = Int(starts[Int(a) + 1])
        let b0 = Int(starts[Int(b)]), b1 = Int(starts[Int(b) + 1])
        var i = a0, j = b0
        while i < a1 && j < b1 {
            if p[i] != p[j] { return p[i] < p[j] }
            i += 1; j += 1
        }
        return (a1 - a0) < (b1 - b0)
    }

    private func equals(_ id: Int, _ key: UnsafeRawBufferPointer) -> Bool {
        let s = Int(starts[id]), e = Int(starts[id + 1])
        guard e - s == key.count else { return false }
        return bytes.withUnsafeBufferPointer { p in
            for k in 0..<key.count where p[s + k] != key[k] { return false }
            return true
        }
    }

    private mutating func grow() {
        let size = table.count * 2
        table = Array(repeating: 0, count: size)
        mask = size - 1
        for id in 0..<hashes.count {
            var slot = Int(truncatingIfNeeded: hashes[id]) & mask
            while table[slot] != 0 { slot = (slot + 1) & mask }
            table[slot] = UInt32(id + 1)
        }
    }

    /// All strings in id order (for checkpoints).
    public var allStrings: [String] { (0..<count).map { string(UInt32($0)) } }
}
