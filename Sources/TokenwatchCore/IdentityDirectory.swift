/// The aliases (e-mail, account ids, logins, key names, …) an identities file maps to people.
///
/// Pure data: the service reads the file (`identities.file`) and hands the directory to the engine
/// in its configuration, so a SIGHUP reload swaps it like any rule threshold.
public struct IdentityDirectory: Sendable, Equatable {
    /// What an alias is; the same text as two kinds can name two people.
    public enum Kind: String, Sendable, CaseIterable {
        case email
        case accountUUID = "account_uuid"
        case accountId = "account_id"
        case github
        case apiKey = "api_key"
        case idpSubject = "idp_subject"
        /// A tool's random per-install id (Claude Code's `user.id`): a machine, which the file may pin to a person.
        case installId = "install_id"
    }

    /// The person an alias resolves to, and their team when the file says.
    public struct Person: Sendable, Equatable {
        public var person: String
        public var team: String?

        public init(person: String, team: String? = nil) {
            self.person = person
            self.team = team
        }
    }

    private struct Key: Hashable {
        var kind: Kind
        var alias: String
    }

    private var entries: [Key: Person] = [:]
    /// The same aliases by a case-blind hash of their bytes, for native events' `user_id`, which may be
    /// any kind of alias: looked up without building a string (`resolveNative`).
    private var native: [UInt64: [NativeEntry]] = [:]

    private struct NativeEntry: Sendable, Equatable {
        var kind: Int
        var alias: [UInt8]
        var person: [UInt8]
        var team: [UInt8]?
    }

    public init() {}

    /// How many aliases the directory holds.
    public var count: Int { entries.count }

    /// Adds an alias; returns the person it already named when that is someone else (the caller's error).
    @discardableResult
    public mutating func add(_ kind: Kind, _ alias: String, _ person: Person) -> Person? {
        let key = Key(kind: kind, alias: Self.normalized(alias, kind))
        if let existing = entries[key], existing != person { return existing }
        if entries.updateValue(person, forKey: key) == nil {
            let bytes = Array(key.alias.utf8)
            let entry = NativeEntry(kind: Kind.allCases.firstIndex(of: kind)!, alias: bytes, person: Array(person.person.utf8),
                                    team: person.team.map { Array($0.utf8) })
            bytes.withUnsafeBytes { native[Self.caseBlindHash($0), default: []].append(entry) }
        }
        return nil
    }

    /// The person and team bytes a native event's `user_id` names, trying every kind of alias (an e-mail
    /// without case, the others exactly; the first kind in `Kind` order wins when two match).
    func resolveNative(_ alias: UnsafeRawBufferPointer) -> (person: [UInt8], team: [UInt8]?)? {
        guard let candidates = native[Self.caseBlindHash(alias)] else { return nil }
        var best: NativeEntry?
        for e in candidates where best.map({ e.kind < $0.kind }) ?? true {
            let caseless = Kind.allCases[e.kind] == .email
            if e.alias.count == alias.count, zip(e.alias, alias).allSatisfy({ caseless ? Self.lower($0) == Self.lower($1) : $0 == $1 }) {
                best = e
            }
        }
        return best.map { ($0.person, $0.team) }
    }

    /// FNV-1a over ASCII-lowercased bytes: equal for an e-mail in any case, cheap, no allocation.
    private static func caseBlindHash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in bytes { h = (h ^ UInt64(lower(b))) &* 0x100_0000_01b3 }
        return h
    }

    @inline(__always) private static func lower(_ b: UInt8) -> UInt8 { b >= 65 && b <= 90 ? b | 0x20 : b }

    /// The person `alias` of `kind` names, if the directory knows it.
    public func resolve(_ kind: Kind, _ alias: String) -> Person? {
        guard !entries.isEmpty else { return nil }
        return entries[Key(kind: kind, alias: Self.normalized(alias, kind))]
    }

    /// E-mail addresses are compared without case (mail systems treat them so); other ids exactly.
    private static func normalized(_ alias: String, _ kind: Kind) -> String {
        kind == .email ? alias.lowercased() : alias
    }
}
