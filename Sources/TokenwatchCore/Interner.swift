/// Maps byte strings (user ids, team names) to dense `UInt32` ids without allocating for known strings.
///
/// An id can be given back (`release`): its string is forgotten and the smallest free id is the next one
/// handed out, so ids stay a function of the input alone (replays and restores give the same ones).
public struct Interner: Sendable {
    private var bytes: [UInt8] = []
    /// Per id: where its bytes start in `bytes`, and where they end (`freeMark` for a free id).
    private var starts: [UInt32] = []
    private var ends: [UInt32] = []
    private var hashes: [UInt64] = []
    /// Open-addressing table of id + 1 (0 = empty).
    private var table: [UInt32]
    private var mask: Int
    /// Free ids, the smallest on top.
    private var free = MinHeap()
    /// Bytes in `bytes` that belong to no id any more (compacted away once they are half of it).
    private var garbage = 0
    private static let freeMark = UInt32.max

    public init(capacity: Int = 1024) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        table = Array(repeating: 0, count: size)
        mask = size - 1
    }

    /// Ids handed out so far, free ones included: every id is below it.
    public var count: Int { hashes.count }

    /// Strings interned now (`count` less the free ids).
    public var liveCount: Int { hashes.count - free.count }

    /// Whether `id` was given back and not handed out again.
    @inline(__always) public func isFree(_ id: UInt32) -> Bool { ends[Int(id)] == Self.freeMark }

    /// Bytes of its arrays (`Engine.stateFootprint`).
    var footprintBytes: Int {
        bytes.capacity + (starts.capacity + ends.capacity) * 4 + hashes.capacity * 8 + table.capacity * 4 + free.footprintBytes
    }

    /// The id of `key`, interning it when new; `isNew` tells which.
    @inlinable public mutating func intern(_ key: UnsafeRawBufferPointer) -> (id: UInt32, isNew: Bool) {
        internBytes(key)
    }

    @usableFromInline mutating func internBytes(_ key: UnsafeRawBufferPointer, reusing: Bool = true) -> (id: UInt32, isNew: Bool) {
        let h = ByteHash.hash(key, seed: 0x7f4a_7c15)
        var slot = Int(truncatingIfNeeded: h) & mask
        while true {
            let entry = table[slot]
            if entry == 0 { break }
            let id = Int(entry - 1)
            if hashes[id] == h && equals(id, key) { return (UInt32(id), false) }
            slot = (slot + 1) & mask
        }
        let start = UInt32(bytes.count)
        bytes.append(contentsOf: key)
        let id: UInt32
        if reusing, let reused = free.popMin() {
            id = reused
            hashes[Int(id)] = h
            starts[Int(id)] = start
            ends[Int(id)] = UInt32(bytes.count)
        } else {
            id = UInt32(hashes.count)
            hashes.append(h)
            starts.append(start)
            ends.append(UInt32(bytes.count))
        }
        table[slot] = id + 1
        if liveCount * 2 > table.count { grow() }
        return (id, true)
    }

    /// Gives `id` back: its string is no longer found, and the id is handed out again to a new string.
    /// The caller must hold nothing under it any more.
    public mutating func release(_ id: UInt32) {
        let i = Int(id)
        guard i < hashes.count, !isFree(id) else { return }
        var slot = Int(truncatingIfNeeded: hashes[i]) & mask
        while table[slot] != id + 1 { slot = (slot + 1) & mask }
        removeSlot(slot)
        garbage += Int(ends[i] - starts[i])
        starts[i] = 0
        ends[i] = Self.freeMark
        free.push(id)
        if garbage > 4096 && garbage * 2 > bytes.count { compact() }
    }

    /// Interns `key` under the next id, never a free one (a checkpoint's names, in id order); false when
    /// it is already interned.
    mutating func append(_ key: UnsafeRawBufferPointer) -> Bool { internBytes(key, reusing: false).isNew }

    /// Appends a free id (a checkpoint's gap), so the ids after it keep their numbers.
    mutating func appendFree() {
        let id = UInt32(hashes.count)
        hashes.append(0)
        starts.append(0)
        ends.append(Self.freeMark)
        free.push(id)
    }

    /// Empties `slot`, moving later entries of its probe run back so that every lookup still finds them
    /// (deletion without tombstones).
    private mutating func removeSlot(_ slot: Int) {
        var hole = slot
        var next = (slot + 1) & mask
        table[hole] = 0
        while table[next] != 0 {
            let home = Int(truncatingIfNeeded: hashes[Int(table[next] - 1)]) & mask
            // The entry may fill the hole unless its home lies cyclically in (hole, next].
            let reachable = hole <= next ? (home <= hole || home > next) : (home <= hole && home > next)
            if reachable {
                table[hole] = table[next]
                table[next] = 0
                hole = next
            }
            next = (next + 1) & mask
        }
    }

    /// Rewrites `bytes` with the live strings only.
    private mutating func compact() {
        var packed: [UInt8] = []
        packed.reserveCapacity(bytes.count - garbage)
        for i in hashes.indices where ends[i] != Self.freeMark {
            let s = Int(starts[i]), e = Int(ends[i])
            starts[i] = UInt32(packed.count)
            packed.append(contentsOf: bytes[s..<e])
            ends[i] = UInt32(packed.count)
        }
        bytes = packed
        garbage = 0
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
        if isFree(id) { return "" }
        return String(decoding: bytes[Int(starts[Int(id)])..<Int(ends[Int(id)])], as: UTF8.self)
    }

    /// Calls `body` with the bytes of `id`.
    public func withBytes<R>(_ id: UInt32, _ body: (ArraySlice<UInt8>) -> R) -> R {
        isFree(id) ? body([]) : body(bytes[Int(starts[Int(id)])..<Int(ends[Int(id)])])
    }

    /// Compares the strings of two ids byte-wise (the order used for tie-breaking).
    public func less(_ a: UInt32, _ b: UInt32) -> Bool {
        bytes.withUnsafeBufferPointer { p in
            starts.withUnsafeBufferPointer { s in ends.withUnsafeBufferPointer { e in Self.less(a, b, bytes: p, starts: s, ends: e) } }
        }
    }

    /// Calls `body` with `less` over the interner's buffers. A comparator that captures the interner
    /// itself (`users.less`) retains and releases its arrays on every call once the optimiser
    /// specialises it into the caller; this one captures three buffer pointers.
    public func withLess<R>(_ body: ((UInt32, UInt32) -> Bool) throws -> R) rethrows -> R {
        try bytes.withUnsafeBufferPointer { p in
            try starts.withUnsafeBufferPointer { s in
                try ends.withUnsafeBufferPointer { e in try body { a, b in Self.less(a, b, bytes: p, starts: s, ends: e) } }
            }
        }
    }

    @inline(__always) static func less(_ a: UInt32, _ b: UInt32, bytes p: UnsafeBufferPointer<UInt8>,
                                       starts: UnsafeBufferPointer<UInt32>, ends: UnsafeBufferPointer<UInt32>) -> Bool {
        if a == b { return false }
        let a0 = Int(starts[Int(a)]), a1 = Int(ends[Int(a)])
        let b0 = Int(starts[Int(b)]), b1 = Int(ends[Int(b)])
        var i = a0, j = b0
        while i < a1 && j < b1 {
            if p[i] != p[j] { return p[i] < p[j] }
            i += 1; j += 1
        }
        return (a1 - a0) < (b1 - b0)
    }

    private func equals(_ id: Int, _ key: UnsafeRawBufferPointer) -> Bool {
        let s = Int(starts[id]), e = Int(ends[id])
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
        for id in 0..<hashes.count where ends[id] != Self.freeMark {
            var slot = Int(truncatingIfNeeded: hashes[id]) & mask
            while table[slot] != 0 { slot = (slot + 1) & mask }
            table[slot] = UInt32(id + 1)
        }
    }

    /// All strings in id order, "" for a free id.
    public var allStrings: [String] { (0..<count).map { string(UInt32($0)) } }
}
