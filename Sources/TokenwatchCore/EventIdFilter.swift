/// Remembers the `event_id`s of one partition for `dedup_horizon` of event time, in bounded memory.
///
/// Ids are kept as 64-bit fingerprints in an open-addressing table, tagged with the coarse
/// event-time bucket of the event that carried them. When the partition's newest event time moves
/// past a bucket's horizon the table is rebuilt without that bucket; when the table holds
/// `maxIds` fingerprints the oldest bucket is forgotten early (counted in `forgottenEarly`).
public struct EventIdFilter: Sendable {
    /// One remembered id: fingerprint (0 = empty slot) and the bucket of its event time.
    struct Slot: Sendable { var fingerprint: UInt64; var bucket: Int64 }

    let horizonMs: Int64
    let bucketMs: Int64
    let maxIds: Int
    private(set) var slots: [Slot]
    private var mask: Int
    /// Ids per bucket, to know what a purge would free.
    private(set) var perBucket: [Int64: Int] = [:]
    public private(set) var count = 0
    /// Ids dropped before their horizon because `maxIds` was reached.
    public private(set) var forgottenEarly = 0
    private var oldestKept = Int64.min

    /// Bytes of its table (`Engine.stateFootprint`).
    var footprintBytes: Int { slots.capacity * MemoryLayout<Slot>.stride + perBucket.capacity * 16 }

    public init(horizonMs: Int64, maxIds: Int) {
        self.horizonMs = max(horizonMs, 1)
        // Sixteen buckets per horizon: purges free memory in sixteenths.
        self.bucketMs = max(self.horizonMs / 16, 1)
        self.maxIds = max(maxIds, 16)
        slots = Array(repeating: Slot(fingerprint: 0, bucket: 0), count: 1024)
        mask = 1023
    }

    /// The fingerprint of an id's bytes (never 0).
    @inlinable public static func fingerprint(_ id: UnsafeRawBufferPointer) -> UInt64 {
        let h = ByteHash.hash(id, seed: 0x51_7cc1_b727_220a)
        return h == 0 ? 1 : h
    }

    /// True when `fingerprint` was seen and is still remembered.
    public func contains(_ fingerprint: UInt64) -> Bool {
        var i = Int(truncatingIfNeeded: fingerprint >> 7) & mask
        while true {
            let f = slots[i].fingerprint
            if f == fingerprint { return true }
            if f == 0 { return false }
            i = (i + 1) & mask
        }
    }

    /// Remembers `fingerprint` for an event at `ts`; call after `contains` said no.
    public mutating func insert(_ fingerprint: UInt64, ts: Int64) {
        let bucket = floorDiv(ts, bucketMs)
        if bucket < oldestKept { return }  // already beyond the horizon: nothing could repeat it in time
        if count >= maxIds { forgetOldestBucket() }
        if (count + 1) * 4 > slots.count * 3 { resize(slots.count * 2) }
        var i = Int(truncatingIfNeeded: fingerprint >> 7) & mask
        while slots[i].fingerprint != 0 { i = (i + 1) & mask }
        slots[i] = Slot(fingerprint: fingerprint, bucket: bucket)
        count += 1
        perBucket[bucket, default: 0] += 1
    }

    /// Forgets ids whose event time is more than the horizon before `newestTs`.
    public mutating func expire(newestTs: Int64) {
        let keepFrom = floorDiv(newestTs - horizonMs, bucketMs)
        guard keepFrom > oldestKept else { return }
        oldestKept = keepFrom
        if perBucket.keys.contains(where: { $0 < keepFrom }) { rebuild(keepFrom: keepFrom) }
    }

    private mutating func forgetOldestBucket() {
        guard let oldest = perBucket.keys.min() else { return }
        forgottenEarly += perBucket[oldest] ?? 0
        rebuild(keepFrom: oldest + 1)
    }

    private mutating func rebuild(keepFrom: Int64) {
        let old = slots
        var size = 1024
        let live = old.reduce(0) { $0 + ($1.fingerprint != 0 && $1.bucket >= keepFrom ? 1 : 0) }
        while live * 2 > size { size <<= 1 }
        slots = Array(repeating: Slot(fingerprint: 0, bucket: 0), count: size)
        mask = size - 1
        count = 0
        perBucket = perBucket.filter { $0.key >= keepFrom }
        for s in old where s.fingerprint != 0 && s.bucket >= keepFrom { place(s) }
    }

    private mutating func resize(_ size: Int) {
        let old = slots
        slots = Array(repeating: Slot(fingerprint: 0, bucket: 0), count: size)
        mask = size - 1
        count = 0
        for s in old where s.fingerprint != 0 { place(s) }
    }

    private mutating func place(_ s: Slot) {
        var i = Int(truncatingIfNeeded: s.fingerprint >> 7) & mask
        while slots[i].fingerprint != 0 { i = (i + 1) & mask }
        slots[i] = s
        count += 1
    }

    /// Every remembered id as (fingerprint, bucket) — for checkpoints.
    var entries: [(UInt64, Int64)] { slots.compactMap { $0.fingerprint == 0 ? nil : ($0.fingerprint, $0.bucket) } }

    /// Restores from checkpointed entries.
    init(horizonMs: Int64, maxIds: Int, entries: [(UInt64, Int64)], oldestKept: Int64, forgottenEarly: Int) {
        self.init(horizonMs: horizonMs, maxIds: maxIds)
        var size = 1024
        while entries.count * 2 > size { size <<= 1 }
        resize(size)
        for (f, b) in entries {
            place(Slot(fingerprint: f, bucket: b))
            perBucket[b, default: 0] += 1
        }
        self.oldestKept = oldestKept
        self.forgottenEarly = forgottenEarly
    }

    var oldestKeptBucket: Int64 { oldestKept }
}
