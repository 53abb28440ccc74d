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

    public init() {}

    /// How many aliases the directory holds.
    public var count: Int { entries.count }

    /// Adds an alias; returns the person it already named when that is someone else (the caller's error).
    @discardableResult
    public mutating func add(_ kind: Kind, _ alias: String, _ person: Person) -> Person? {
        let key = Key(kind: kind, alias: Self.normalized(alias, kind))
        if let existing = entries[key], existing != person { return existing }
        entries[key] = person
        return nil
    }

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
