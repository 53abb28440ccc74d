/// Per-partition state indexed directly by partition id (Kafka ids are small and dense), so the
/// per-event path reads and updates it in place instead of hashing and copying a dictionary value.
struct PartitionTable: Sendable, Sequence {
    private var slots: [Engine.PartitionState?] = []
    private(set) var count = 0

    subscript(id: Int32) -> Engine.PartitionState? {
        get { id >= 0 && Int(id) < slots.count ? slots[Int(id)] : nil }
        set {
            precondition(id >= 0, "Kafka partition ids are never negative")
            if Int(id) >= slots.count { slots.append(contentsOf: repeatElement(nil, count: Int(id) - slots.count + 1)) }
            if slots[Int(id)] == nil && newValue != nil { count += 1 }
            if slots[Int(id)] != nil && newValue == nil { count -= 1 }
            slots[Int(id)] = newValue
        }
    }

    /// In-place access for the hot path; the partition must exist.
    @inline(__always) mutating func withState<R>(_ id: Int32, _ body: (inout Engine.PartitionState) -> R) -> R {
        body(&slots[Int(id)]!)
    }

    @inline(__always) func nextOffset(_ id: Int32) -> Int64 { slots[Int(id)]!.nextOffset }
    @inline(__always) func newestTs(_ id: Int32) -> Int64 { slots[Int(id)]!.newestTs }
    @inline(__always) func remembers(_ id: Int32, _ fingerprint: UInt64) -> Bool { slots[Int(id)]!.filter.contains(fingerprint) }
    @inline(__always) func exists(_ id: Int32) -> Bool { id >= 0 && Int(id) < slots.count && slots[Int(id)] != nil }

    var keys: [Int32] { slots.indices.compactMap { slots[$0] == nil ? nil : Int32($0) } }
    var values: [Engine.PartitionState] { slots.compactMap { $0 } }
    var isEmpty: Bool { count == 0 }

    func mapValues<T>(_ f: (Engine.PartitionState) -> T) -> [Int32: T] {
        var out: [Int32: T] = [:]
        for (id, s) in self { out[id] = f(s) }
        return out
    }

    func makeIterator() -> AnyIterator<(key: Int32, value: Engine.PartitionState)> {
        var i = 0
        return AnyIterator {
            while i < slots.count {
                defer { i += 1 }
                if let s = slots[i] { return (Int32(i), s) }
            }
            return nil
        }
    }
}
