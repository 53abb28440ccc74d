/// Per-user counts of one hopping window, kept sparse: only buckets with events are stored.
///
/// Each user has a short list of (bucket, counts) sorted by bucket. The window's running totals
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
    }

    public let spec: WindowSpec
    let bucketsPerWindow: Int64
    /// Exclusive end of the counted range, in buckets.
    public private(set) var end: Int64
    var entries: [[Entry]] = []
    /// Running totals per user over `[end - bucketsPerWindow, end)`.
    public private(set) var tokens: [Int64] = []
    public private(set) var events: [Int64] = []
    public private(set) var outcomes: [Int64] = []
    /// Users with at least one event in the counted range, and each one's index in it (or -1).
    public private(set) var active: [UInt32] = []
    private var activeIndex: [Int32] = []
    /// Bucket → users with an entry in it.
    var calendar: [Int64: [UInt32]] = [:]
    /// Per user: the newest bucket stored and the team of its newest event, so boards
    /// find a user's team without walking the bucket list.
    private(set) var newestBucket: [Int64] = []
    private(set) var newestTeam: [UInt32] = []
    /// Set whenever a total or the active set changes; cleared by whoever reads the board.
    public var changed = true

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
        if entries.count < n {
            let extra = n - entries.count
            entries.append(contentsOf: repeatElement([], count: extra))
            tokens.append(contentsOf: repeatElement(0, count: extra))
            events.append(contentsOf: repeatElement(0, count: extra))
            outcomes.append(contentsOf: repeatElement(0, count: extra))
            activeIndex.append(contentsOf: repeatElement(-1, count: extra))
            newestBucket.append(contentsOf: repeatElement(Int64.min, count: extra))
            newestTeam.append(contentsOf: repeatElement(0, count: extra))
        }
    }

    /// True when an event at `ts` could still count in this window's current or later ranges.
    @inline(__always) public func accepts(_ ts: Int64) -> Bool { bucket(of: ts) >= start }

    /// Adds one event; ignored when its bucket has already left the window.
    public mutating func add(user: UInt32, team: UInt32, ts: Int64, tokens t: Int64, outcomes o: UInt32) {
        let b = bucket(of: ts)
        guard b >= start else { return }
        ensureUser(user)
        let u = Int(user)
        let offset = Int32(truncatingIfNeeded: ts - b * spec.stepMs)
        let count = entries[u].count
        var index = count
        if count > 0 && entries[u][count - 1].bucket >= b {
            // Out of order within the user's list: walk back to the place.
            index = count - 1
            while index > 0 && entries[u][index - 1].bucket >= b { index -= 1 }
        }
        if index < count && entries[u][index].bucket == b {
            entries[u][index].events &+= 1
            entries[u][index].outcomes &+= o
            entries[u][index].tokens &+= t
            if offset >= entries[u][index].teamOffset {
                entries[u][index].team = team
                entries[u][index].teamOffset = offset
            }
        } else {
            entries[u].insert(Entry(bucket: b, tokens: t, team: team, teamOffset: offset, events: 1, outcomes: o), at: index)
            calendar[b, default: []].append(user)
        }
        // The newest entry's team, for boards (its team is that of its newest event).
        let newest = entries[u][entries[u].count - 1]
        newestBucket[u] = newest.bucket
        newestTeam[u] = newest.team
        if b < end {
            apply(u, tokens: t, events: 1, outcomes: Int64(o))
        }
    }

    @inline(__always) private mutating func apply(_ u: Int, tokens t: Int64, events e: Int64, outcomes o: Int64) {
        let wasActive = events[u] > 0
        tokens[u] &+= t
        events[u] &+= e
        outcomes[u] &+= o
        changed = true
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

    /// Moves the counted range so that it ends (exclusive) at bucket `newEnd`.
    public mutating func advance(toEnd newEnd: Int64) {
        guard newEnd > end else { return }
        let oldStart = start, oldEnd = end
        let newStart = newEnd - bucketsPerWindow
        let keys: [Int64]
        if newEnd - oldStart <= Int64(calendar.count) * 2 {
            keys = Array(oldStart..<newEnd).filter { calendar[$0] != nil }
        } else {
            keys = calendar.keys.filter { $0 < newEnd }.sorted()
        }
        for b in keys {
            guard let users = calendar[b] else { continue }
            let wasIn = b >= oldStart && b < oldEnd
            let isIn = b >= newStart && b < newEnd
            if wasIn == isIn && isIn { continue }
            for user in users {
                let u = Int(user)
                if let i = entries[u].firstIndex(where: { $0.bucket == b }) {
                    let e = entries[u][i]
                    if wasIn && !isIn {
                        apply(u, tokens: -e.tokens, events: -Int64(e.events), outcomes: -Int64(e.outcomes))
                    } else if !wasIn && isIn {
                        apply(u, tokens: e.tokens, events: Int64(e.events), outcomes: Int64(e.outcomes))
                    }
                    if b < newStart {
                        entries[u].remove(at: i)
                        if entries[u].isEmpty { entries[u] = [] }  // frees the storage of idle users
                    }
                }
            }
            if b < newStart { calendar[b] = nil }
        }
        end = newEnd
        changed = true
    }

    /// Restores one user's entries (checkpoint), rebuilding totals and the calendar from them.
    mutating func restore(user: UInt32, entries list: [Entry]) {
        ensureUser(user)
        let u = Int(user)
        entries[u] = list
        if let last = list.last {
            newestBucket[u] = last.bucket
            newestTeam[u] = last.team
        }
        for e in list {
            calendar[e.bucket, default: []].append(user)
            if e.bucket >= start && e.bucket < end {
                apply(u, tokens: e.tokens, events: Int64(e.events), outcomes: Int64(e.outcomes))
            }
        }
    }

    /// The team of the user's newest bucket inside the counted range.
    public func team(of user: UInt32) -> UInt32? {
        guard Int(user) < entries.count else { return nil }
        let u = Int(user)
        // Fast path: the newest stored bucket is inside the range.
        if newestBucket[u] < end && newestBucket[u] >= start { return newestTeam[u] }
        var i = entries[u].count - 1
        while i >= 0 {
            let bucket = entries[u][i].bucket
            if bucket < end && bucket >= start { return entries[u][i].team }
            i -= 1
        }
        return nil
    }

    /// Number of stored (user, bucket) entries, for memory accounting.
    public var storedBuckets: Int { calendar.values.reduce(0) { $0 + $1.count } }
}
