/// Per-user counts of one hopping window, kept sparse: only buckets with events are stored.
///
/// Each user's newest bucket lives in a dense per-user array (`hot`), so the common event — another
/// request in the user's current bucket — touches one contiguous slot and no heap list; older
/// buckets move to a short per-user list (`cold`) sorted by bucket. The window's running totals
/// cover buckets `[end - bucketsPerWindow, end)`; buckets at or after `end` are pending (events
/// ahead of the last snapshot). `advance(toEnd:)` moves the window, touching only the users listed
/// in the buckets that enter or leave (the `calendar`), so a snapshot never rescans history.
public struct SlidingWindow: Sendable {
    /// One non-empty bucket of one user.
    struct Entry: Sendable {
        var bucket: Int64
        var tokens: Int64
        var team: UInt32
        /// Event-time offset within the bucket of the event that set `team`: the newest event names the team.
        var teamOffset: Int32
        var events: UInt32
        var outcomes: UInt32

        static let none = Entry(bucket: Int64.min, tokens: 0, team: 0, teamOffset: 0, events: 0, outcomes: 0)
        var isNone: Bool { bucket == Int64.min }

        mutating func count(team t: UInt32, offset: Int32, tokens n: Int64, outcomes o: UInt32) {
            events &+= 1
            outcomes &+= o
            tokens &+= n
            if offset >= teamOffset {
                team = t
                teamOffset = offset
            }
        }
    }

    public let spec: WindowSpec
    let bucketsPerWindow: Int64
    /// Exclusive end of the counted range, in buckets.
    public private(set) var end: Int64
    /// Per user: the newest bucket (or `.none`).
    var hot: [Entry] = []
    /// Per user: older buckets, sorted, all below the hot one.
    var cold: [[Entry]] = []
    /// Per user: bucket and team of the newest cold entry, so boards rarely walk `cold`.
    var previous: [(bucket: Int64, team: UInt32)] = []
    /// Running totals per user over `[end - bucketsPerWindow, end)`.
    public private(set) var tokens: [Int64] = []
    public private(set) var events: [Int64] = []
    public private(set) var outcomes: [Int64] = []
    /// Users with at least one event in the counted range, and each one's index in it (or -1).
    public private(set) var active: [UInt32] = []
    private var activeIndex: [Int32] = []
    /// Bucket → users with an entry in it.
    var calendar = BucketCalendar()
    /// Set whenever a total or the active set changes; cleared by whoever reads the board.
    public var changed = true
    /// Whether `changedUsers` is kept (the windows boards or the known counts read; off for the others).
    var tracksChangedUsers = false
    /// Users whose totals or team may have changed since `clearChangedUsers()`, each once (`isChangedUser`).
    private(set) var changedUsers: [UInt32] = []
    private(set) var isChangedUser: [Bool] = []
    /// Whether `vacated` is kept (the engine's windows: who may give their id back).
    var tracksVacated = false
    /// Users whose last stored bucket left the range since `takeVacated()`.
    var vacated: [UInt32] = []

    public init(spec: WindowSpec, end: Int64 = Int64.min / 4) {
        self.spec = spec
        self.bucketsPerWindow = spec.lengthMs / spec.stepMs
        self.end = end
    }

    /// Start of the counted range, in buckets.
    public var start: Int64 { end - bucketsPerWindow }

    @inline(__always) public func bucket(of ts: Int64) -> Int64 { floorDiv(ts, spec.stepMs) }

    mutating func ensureUser(_ user: UInt32) {
        let n = Int(user) + 1
        if hot.count < n {
            let extra = n - hot.count
            hot.append(contentsOf: repeatElement(.none, count: extra))
            cold.append(contentsOf: repeatElement([], count: extra))
            previous.append(contentsOf: repeatElement((bucket: Int64.min, team: UInt32(0)), count: extra))
            tokens.append(contentsOf: repeatElement(0, count: extra))
            events.append(contentsOf: repeatElement(0, count: extra))
            outcomes.append(contentsOf: repeatElement(0, count: extra))
            activeIndex.append(contentsOf: repeatElement(-1, count: extra))
        }
    }

    /// True when an event at `ts` could still count in this window's current or later ranges.
    @inline(__always) public func accepts(_ ts: Int64) -> Bool { bucket(of: ts) >= start }

    /// Adds one event; ignored when its bucket has already left the window.
    public mutating func add(user: UInt32, team: UInt32, ts: Int64, tokens t: Int64, outcomes o: UInt32) {
        let b = bucket(of: ts)
        guard b >= start else { return }
        if Int(user) >= hot.count { ensureUser(user) }
        let u = Int(user)
        let offset = Int32(truncatingIfNeeded: ts - b * spec.stepMs)
        let hotBucket = hot[u].bucket
        if hotBucket == b {
            hot[u].count(team: team, offset: offset, tokens: t, outcomes: o)
        } else if b > hotBucket {
            if hotBucket != Int64.min {
                cold[u].append(hot[u])
                previous[u] = (hotBucket, hot[u].team)
            }
            hot[u] = Entry(bucket: b, tokens: t, team: team, teamOffset: offset, events: 1, outcomes: o)
            calendar.append(user, bucket: b)
        } else {
            let (isNew, bucketTeam) = Self.record(into: &cold[u], bucket: b, team: team, offset: offset, tokens: t, outcomes: o)
            if isNew { calendar.append(user, bucket: b) }
            if b >= previous[u].bucket { previous[u] = (b, bucketTeam) }
        }
        if b < end {
            apply(u, tokens: t, events: 1, outcomes: Int64(o))
        }
    }

    /// Adds to the user's older entry for `bucket`; says whether the entry is new, and its team now.
    private static func record(into list: inout [Entry], bucket b: Int64, team: UInt32, offset: Int32, tokens t: Int64, outcomes o: UInt32) -> (Bool, UInt32) {
        var index = list.count
        while index > 0 && list[index - 1].bucket >= b { index -= 1 }
        if index < list.count && list[index].bucket == b {
            list[index].count(team: team, offset: offset, tokens: t, outcomes: o)
            return (false, list[index].team)
        }
        list.insert(Entry(bucket: b, tokens: t, team: team, teamOffset: offset, events: 1, outcomes: o), at: index)
        return (true, team)
    }

    @inline(__always) private mutating func apply(_ u: Int, tokens t: Int64, events e: Int64, outcomes o: Int64) {
        let wasActive = events[u] > 0
        tokens[u] &+= t
        events[u] &+= e
        outcomes[u] &+= o
        changed = true
        if tracksChangedUsers { markChanged(UInt32(truncatingIfNeeded: u)) }
        let isActive = events[u] > 0
        if isActive && !wasActive {
            activeIndex[u] = Int32(active.count)
            active.append(UInt32(u))
        } else if !isActive && wasActive {
            let i = Int(activeIndex[u])
            let moved = active[active.count - 1]
            active[i] = moved
            activeIndex[Int(moved)] = Int32(i)
            active.removeLast()
            activeIndex[u] = -1
        }
    }

    /// Records `user` among the changed users (the window's own changes, and those of what its boards read
    /// besides the window: suspicion, flags, being known). No allocation once the buffers have grown.
    @inline(__always) mutating func markChanged(_ user: UInt32) {
        let u = Int(user)
        if u >= isChangedUser.count {
            isChangedUser.append(contentsOf: repeatElement(false, count: u - isChangedUser.count + 1))
        }
        if !isChangedUser[u] {
            isChangedUser[u] = true
            changedUsers.append(user)
        }
    }

    /// Forgets the changed users (their boards have been updated), keeping the buffers.
    mutating func clearChangedUsers() {
        for u in changedUsers { isChangedUser[Int(u)] = false }
        changedUsers.removeAll(keepingCapacity: true)
    }

    /// Takes a forgotten user's bucket out of the running totals (`forget(user:)`).
    mutating func removeFromTotals(_ u: Int, tokens t: Int64, events e: Int64, outcomes o: Int64) {
        apply(u, tokens: -t, events: -e, outcomes: -o)
    }

    /// Moves the counted range so that it ends (exclusive) at bucket `newEnd`.
    public mutating func advance(toEnd newEnd: Int64) {
        guard newEnd > end else { return }
        let oldStart = start, oldEnd = end
        let newStart = newEnd - bucketsPerWindow
        let lo = max(oldStart, calendar.base), hi = min(newEnd, calendar.base + Int64(calendar.slotCount))
        var b = lo
        while b < hi {
            defer { b += 1 }
            let wasIn = b >= oldStart && b < oldEnd
            let isIn = b >= newStart && b < newEnd
            if wasIn == isIn && (isIn || b >= newStart) { continue }
            for user in calendar.users(at: b) {
                let u = Int(user)
                let e: Entry
                var coldIndex = -1
                if hot[u].bucket == b {
                    e = hot[u]
                } else if let i = cold[u].firstIndex(where: { $0.bucket == b }) {
                    e = cold[u][i]
                    coldIndex = i
                } else {
                    continue
                }
                if wasIn && !isIn {
                    apply(u, tokens: -e.tokens, events: -Int64(e.events), outcomes: -Int64(e.outcomes))
                } else if !wasIn && isIn {
                    apply(u, tokens: e.tokens, events: Int64(e.events), outcomes: Int64(e.outcomes))
                }
                if b < newStart {
                    if coldIndex < 0 {
                        hot[u] = .none
                    } else {
                        cold[u].remove(at: coldIndex)
                        if cold[u].isEmpty { cold[u] = [] }  // frees the storage of idle users
                    }
                    if tracksVacated && hot[u].isNone && cold[u].isEmpty { vacated.append(user) }
                }
            }
        }
        calendar.removeBelow(newStart)
        end = newEnd
        changed = true
    }

    /// Every stored entry of one user, oldest first (checkpoints).
    func entries(of user: Int) -> [Entry] {
        hot[user].isNone ? cold[user] : cold[user] + [hot[user]]
    }

    /// Restores one user's entries (checkpoint), rebuilding totals and the calendar from them.
    mutating func restore(user: UInt32, entries list: [Entry]) {
        ensureUser(user)
        let u = Int(user)
        if let last = list.last {
            hot[u] = last
            cold[u] = Array(list.dropLast())
            if let p = cold[u].last { previous[u] = (p.bucket, p.team) }
        }
        for e in list {
            calendar.append(user, bucket: e.bucket)
            if e.bucket >= start && e.bucket < end {
                apply(u, tokens: e.tokens, events: Int64(e.events), outcomes: Int64(e.outcomes))
            }
        }
    }

    /// The team of the user's newest bucket inside the counted range.
    @inline(__always) public func team(of user: UInt32) -> UInt32? {
        let u = Int(user)
        guard u < hot.count else { return nil }
        let h = hot[u]
        if h.bucket < end && h.bucket >= start { return h.team }
        let p = previous[u]
        if p.bucket < end && p.bucket >= start && (h.bucket >= end || h.isNone) { return p.team }
        var i = cold[u].count - 1
        while i >= 0 {
            let bucket = cold[u][i].bucket
            if bucket < end && bucket >= start { return cold[u][i].team }
            i -= 1
        }
        return nil
    }

    /// Number of stored (user, bucket) entries, for memory accounting.
    public var storedBuckets: Int { calendar.pairs }

    /// Bytes of its arrays, nested ones included (`Engine.stateFootprint`).
    var footprintBytes: Int {
        let entry = MemoryLayout<Entry>.stride
        let perUser = hot.capacity * entry + cold.capacity * 8 + previous.capacity * 16 + (tokens.capacity + events.capacity + outcomes.capacity) * 8
        let lists = cold.reduce(0) { $0 + $1.capacity * entry }
        return perUser + lists + active.capacity * 4 + activeIndex.capacity * 4 + changedUsers.capacity * 4 + isChangedUser.capacity
            + calendar.footprintBytes
    }
}

/// Bucket → the users with an entry in it, as a sliding array of buckets (no hashing per event).
struct BucketCalendar: Sendable {
    /// Bucket index of `slots[head]`.
    private(set) var base: Int64 = 0
    private var slots: [[UInt32]] = []
    private var head = 0
    /// Number of (user, bucket) pairs held.
    private(set) var pairs = 0

    /// Buckets covered, from `base`.
    var slotCount: Int { slots.count - head }

    /// Bytes of its arrays (`Engine.stateFootprint`).
    var footprintBytes: Int { slots.capacity * 8 + slots.reduce(0) { $0 + $1.capacity * 4 } }

    mutating func append(_ user: UInt32, bucket b: Int64) {
        if slotCount == 0 {
            slots.removeAll(keepingCapacity: true)
            head = 0
            base = b
        } else if b < base {
            slots.insert(contentsOf: repeatElement([], count: Int(base - b)), at: head)
            base = b
        }
        let index = head + Int(b - base)
        if index >= slots.count { slots.append(contentsOf: repeatElement([], count: index - slots.count + 1)) }
        slots[index].append(user)
        pairs += 1
    }

    func users(at b: Int64) -> [UInt32] {
        guard b >= base, b < base + Int64(slotCount) else { return [] }
        return slots[head + Int(b - base)]
    }

    /// Forgets every bucket below `b`.
    mutating func removeBelow(_ b: Int64) {
        guard slotCount > 0, b > base else { return }
        let drop = min(Int(min(b - base, Int64(slotCount))), slotCount)
        for i in head..<(head + drop) {
            pairs -= slots[i].count
            slots[i] = []
        }
        head += drop
        base += Int64(drop)
        if head > 64 && head * 2 > slots.count {
            slots.removeFirst(head)
            head = 0
        }
    }
}
