// Privacy is a stage over the finished boards of one snapshot time, after they are built (or, with
// engine shards, merged) and before they are encoded: it sees every window and scope at once, which
// suppression across scopes needs, and it never touches how boards are computed.

/// `privacy:` as the core takes it.
public struct PrivacyConfiguration: Sendable, Equatable {
    /// Teams with fewer known members get no board and no adoption figures (0 or 1: off; core default 1).
    public var minGroupSize: Int = 1
    /// When set, user ids on boards are replaced by a keyed hash of them (`BoardPrivacy.pseudonym`).
    public var pseudonymKey: [UInt8]?

    public init(minGroupSize: Int = 1, pseudonymKey: [UInt8]? = nil) {
        self.minGroupSize = minGroupSize
        self.pseudonymKey = pseudonymKey
    }

    /// Whether the stage changes anything.
    public var isActive: Bool { minGroupSize > 1 || pseudonymKey != nil }
}

/// Suppresses small teams' boards (with complementary suppression) and pseudonymizes user ids.
public enum BoardPrivacy {
    /// What a suppressed team's members show as `team` on the boards still published.
    public static let withheldTeam = "(withheld)"

    /// The boards of one snapshot time (every window and scope) as they may be published.
    ///
    /// A team is small when its largest `known_users` over the windows is below `minGroupSize`. Its
    /// boards are dropped, and so are those of the next smallest teams until the dropped teams together
    /// hold at least `minGroupSize` people: otherwise global adoption minus the published teams' would
    /// give the small team's figures. On the boards left, the members of dropped teams show their team
    /// as `(withheld)`, so a dropped board cannot be rebuilt from the global one.
    public static func apply(_ boards: [LeaderboardSnapshot], _ p: PrivacyConfiguration) -> [LeaderboardSnapshot] {
        guard p.isActive else { return boards }
        let hidden = p.minGroupSize > 1 ? suppressedTeams(boards, minGroupSize: p.minGroupSize) : []
        // Nothing withheld and no pseudonyms: the boards stand as they are (no lookups per entry).
        if hidden.isEmpty && p.pseudonymKey == nil { return boards }
        var out: [LeaderboardSnapshot] = []
        out.reserveCapacity(boards.count)
        for var board in boards where !(board.scope.hasPrefix("team:") && hidden.contains(String(board.scope.dropFirst(5)))) {
            for i in board.entries.indices {
                if hidden.contains(board.entries[i].team) { board.entries[i].team = withheldTeam }
                if let key = p.pseudonymKey { board.entries[i].userId = pseudonym(board.entries[i].userId, key: key) }
            }
            out.append(board)
        }
        return out
    }

    /// The teams whose boards are not published: the small ones, plus the fewest next-smallest needed so
    /// the suppressed teams together reach `minGroupSize` known people.
    static func suppressedTeams(_ boards: [LeaderboardSnapshot], minGroupSize: Int) -> Set<String> {
        var size: [String: Int] = [:]
        for b in boards where b.scope.hasPrefix("team:") {
            let team = String(b.scope.dropFirst(5))
            size[team] = max(size[team] ?? 0, b.adoption.knownUsers)
        }
        let bySize = size.sorted { $0.value != $1.value ? $0.value < $1.value : $0.key < $1.key }
        var hidden = Set(bySize.filter { $0.value < minGroupSize }.map(\.key))
        guard !hidden.isEmpty else { return [] }
        var total = hidden.reduce(0) { $0 + size[$1]! }
        for (team, n) in bySize where total < minGroupSize && !hidden.contains(team) {
            hidden.insert(team)
            total += n
        }
        return hidden
    }

    /// `p-` and 16 hex digits of HMAC-SHA256(key, user id): stable for one key, not reversible without it.
    public static func pseudonym(_ userId: String, key: [UInt8]) -> String {
        "p-" + SHA256.hex(hmac(key: key, message: Array(userId.utf8)).prefix(8))
    }

    /// HMAC-SHA256 (RFC 2104).
    static func hmac(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var k = key.count > 64 ? SHA256.hash(key) : key
        k += [UInt8](repeating: 0, count: 64 - k.count)
        let inner = SHA256.hash(k.map { $0 ^ 0x36 } + message)
        return SHA256.hash(k.map { $0 ^ 0x5c } + inner)
    }
}

// The key never reaches a log line through interpolation or a dump of the engine's configuration.
extension PrivacyConfiguration: CustomStringConvertible, CustomReflectable {
    public var description: String {
        "PrivacyConfiguration(minGroupSize: \(minGroupSize), pseudonymKey: \(pseudonymKey == nil ? "none" : "<redacted>"))"
    }

    public var customMirror: Mirror {
        Mirror(self, children: ["minGroupSize": minGroupSize, "pseudonymKey": pseudonymKey == nil ? "none" : "<redacted>"])
    }
}
