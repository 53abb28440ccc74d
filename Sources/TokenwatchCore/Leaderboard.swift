/// One ranked user on a board.
public struct LeaderboardEntry: Sendable, Equatable {
    public var rank: Int
    public var userId: String
    public var team: String
    public var tokens: Int64
    public var events: Int64
    public var outcomes: Int64
    public var effectiveTokens: Int64
    public var suspicion: Double
    public var flags: [String]
}

/// How many people used AI in a window, out of those known.
public struct Adoption: Sendable, Equatable {
    public var activeUsers: Int
    public var knownUsers: Int
    public var effectiveActiveUsers: Int
    /// With a roster: active people it does not list (global boards); nil without one.
    public var offRosterActiveUsers: Int? = nil
    /// Global boards: per tool (name order), usage events in the window that no identity resolved
    /// (OTLP inputs): counted, never ranked. Empty (and left out of the JSON) when there were none.
    public var unattributedEvents: [(tool: String, events: Int)] = []

    public static func == (a: Adoption, b: Adoption) -> Bool {
        a.activeUsers == b.activeUsers && a.knownUsers == b.knownUsers && a.effectiveActiveUsers == b.effectiveActiveUsers
            && a.offRosterActiveUsers == b.offRosterActiveUsers
            && a.unattributedEvents.elementsEqual(b.unattributedEvents) { $0.tool == $1.tool && $0.events == $1.events }
    }
    public var activeRatio: Double { knownUsers == 0 ? 0 : Double(activeUsers) / Double(knownUsers) }
    public var effectiveActiveRatio: Double { knownUsers == 0 ? 0 : Double(effectiveActiveUsers) / Double(knownUsers) }
}

/// One leaderboard snapshot for one (window, scope), as published on `tokenwatch.leaderboard`.
public struct LeaderboardSnapshot: Sendable, Equatable {
    public var asOf: Int64
    public var window: String
    public var windowStart: Int64
    public var windowEnd: Int64
    public var scope: String
    public var rankBy: RankBy
    public var entries: [LeaderboardEntry]
    public var adoption: Adoption

    /// Kafka key: `"<window>|<scope>"`.
    public var key: String { "\(window)|\(scope)" }

    /// The `tokenwatch.leaderboard.v1` JSON.
    public func json() -> [UInt8] {
        var w = JSONWriter(capacity: 256 + entries.count * 160)
        Self.writeHead(&w, asOf: asOf, window: window, windowStart: windowStart, windowEnd: windowEnd)
        writeBody(&w)
        return w.bytes
    }

    /// `{"schema":…,"window_end":N`: the part that moves with every snapshot time.
    static func writeHead(_ w: inout JSONWriter, asOf: Int64, window: String, windowStart: Int64, windowEnd: Int64) {
        w.beginObject()
        w.key("schema"); w.string("tokenwatch.leaderboard.v1")
        w.key("as_of"); w.int(asOf)
        w.key("window"); w.string(window)
        w.key("window_start"); w.int(windowStart)
        w.key("window_end"); w.int(windowEnd)
    }

    /// `,"scope":…}`: the board's contents.
    func writeBody(_ w: inout JSONWriter) {
        w.key("scope"); w.string(scope)
        w.key("rank_by"); w.string(rankBy.rawValue)
        w.key("entries")
        w.beginArray()
        for e in entries {
            w.beginObject()
            w.key("rank"); w.int(e.rank)
            w.key("user_id"); w.string(e.userId)
            w.key("team"); w.string(e.team)
            w.key("tokens"); w.int(e.tokens)
            w.key("events"); w.int(e.events)
            w.key("outcomes"); w.int(e.outcomes)
            w.key("effective_tokens"); w.int(e.effectiveTokens)
            w.key("suspicion"); w.decimal(e.suspicion)
            w.key("flags")
            w.beginArray()
            for f in e.flags { w.string(f) }
            w.endArray()
            w.endObject()
        }
        w.endArray()
        w.key("adoption")
        w.beginObject()
        w.key("active_users"); w.int(adoption.activeUsers)
        w.key("known_users"); w.int(adoption.knownUsers)
        w.key("active_ratio"); w.decimal(adoption.activeRatio)
        w.key("effective_active_ratio"); w.decimal(adoption.effectiveActiveRatio)
        if let n = adoption.offRosterActiveUsers { w.key("off_roster_active_users"); w.int(n) }
        if !adoption.unattributedEvents.isEmpty {
            w.key("unattributed_events")
            w.beginObject()
            for (tool, n) in adoption.unattributedEvents { w.rawKey(tool); w.int(n) }
            w.endObject()
        }
        w.endObject()
        w.endObject()
    }
}

/// A board serialised once and republished at every snapshot time while its contents stay the same:
/// only the head (`as_of` and the window's range) is written anew.
public struct BoardBytes: Sendable, Equatable {
    /// Kafka key: `"<window>|<scope>"`.
    public var key: [UInt8]
    public var window: String
    /// Everything after `window_end`: `,"scope":…}`.
    public var body: [UInt8]

    public init(_ board: LeaderboardSnapshot) {
        key = Array(board.key.utf8)
        window = board.window
        var w = JSONWriter(capacity: 256 + board.entries.count * 160)
        w.continueObject()
        board.writeBody(&w)
        body = w.bytes
    }

    /// The whole `tokenwatch.leaderboard.v1` message at one snapshot time.
    public func json(asOf: Int64, windowStart: Int64, windowEnd: Int64) -> [UInt8] {
        var w = JSONWriter(capacity: 128 + body.count)
        LeaderboardSnapshot.writeHead(&w, asOf: asOf, window: window, windowStart: windowStart, windowEnd: windowEnd)
        w.bytes.append(contentsOf: body)
        return w.bytes
    }
}

/// The boards published at the last snapshot time: a board is serialised again only when its contents
/// changed (most team boards stay the same from one snapshot time to the next).
struct PublishedBoards: Sendable {
    private(set) var boards: [LeaderboardSnapshot] = []
    private(set) var bytes: [BoardBytes] = []

    var isEmpty: Bool { bytes.isEmpty }
    /// Whether a published board holds unattributed counts (which may drop to none at the next snapshot).
    var hasUnattributed: Bool { boards.contains { !$0.adoption.unattributedEvents.isEmpty } }

    /// Takes the newly merged boards, reusing the bytes of every board equal to its previous version.
    mutating func update(_ merged: [LeaderboardSnapshot]) {
        // Boards come in the same order from one snapshot time to the next unless a scope appeared or
        // left: look at the same position first, and index the previous boards by key only when needed.
        var previous: [String: Int]?
        var fresh: [BoardBytes] = []
        fresh.reserveCapacity(merged.count)
        for (j, board) in merged.enumerated() {
            var i: Int? = j < boards.count && boards[j].window == board.window && boards[j].scope == board.scope ? j : nil
            if i == nil {
                if previous == nil {
                    var index: [String: Int] = [:]
                    for (i, b) in boards.enumerated() { index[b.key] = i }
                    previous = index
                }
                i = previous?[board.key]
            }
            if let i, boards[i] == board { fresh.append(bytes[i]) } else { fresh.append(BoardBytes(board)) }
        }
        boards = merged
        bytes = fresh
    }
}

/// Keeps the best `k` candidates by (value descending, then a tie-break order ascending).
struct TopK {
    let k: Int
    /// A min-heap on "worse first" so the root is the candidate to evict.
    private(set) var heap: [(value: Int64, user: UInt32)] = []

    init(k: Int) { self.k = k }

    /// True when `a` ranks below `b`.
    @inline(__always) static func worse(_ a: (value: Int64, user: UInt32), _ b: (value: Int64, user: UInt32), _ less: (UInt32, UInt32) -> Bool) -> Bool {
        if a.value != b.value { return a.value < b.value }
        return less(b.user, a.user)
    }

    @inline(__always) mutating func offer(_ c: (value: Int64, user: UInt32), _ less: (UInt32, UInt32) -> Bool) {
        // Most candidates lose to the current k-th best on value alone.
        if heap.count == k && (k == 0 || c.value < heap[0].value) { return }
        offerSlow(c, less)
    }

    mutating func offerSlow(_ c: (value: Int64, user: UInt32), _ less: (UInt32, UInt32) -> Bool) {
        if heap.count < k {
            heap.append(c)
            var i = heap.count - 1
            while i > 0 {
                let p = (i - 1) / 2
                if Self.worse(heap[i], heap[p], less) { heap.swapAt(i, p); i = p } else { break }
            }
        } else if k > 0, Self.worse(heap[0], c, less) {
            heap[0] = c
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count && Self.worse(heap[l], heap[m], less) { m = l }
                if r < heap.count && Self.worse(heap[r], heap[m], less) { m = r }
                if m == i { break }
                heap.swapAt(i, m)
                i = m
            }
        }
    }

    /// Best first.
    func sorted(_ less: (UInt32, UInt32) -> Bool) -> [(value: Int64, user: UInt32)] {
        heap.sorted { Self.worse($1, $0, less) }
    }
}
