import Foundation
import TokenwatchCore
import Yams

/// `identities.file` and `roster.file`: where they are, and what was read from them.
public struct PeopleSettings: Sendable, Equatable {
    /// Aliases → person and team, CSV or YAML (key `identities.file`, default none).
    public var identitiesFile = ""
    /// The people expected to use AI tools, CSV or YAML (key `roster.file`, default none).
    public var rosterFile = ""
    /// What `identitiesFile` holds (empty without one); read with the configuration, and again on SIGHUP.
    public var identities = IdentityDirectory()
    /// What `rosterFile` holds; nil without one.
    public var roster: Roster?

    public init() {}
}

/// Reads the identities and roster files. A file is a table of rows with named columns: CSV with a
/// header line, or YAML as a list of mappings (an alias column may then hold a list). Errors name the
/// file, the line and the configuration key.
enum PeopleFiles {
    /// One row: column → values, and its line.
    struct Row {
        var fields: [String: [String]]
        var line: Int
    }

    static func load(into config: inout TokenwatchConfiguration) throws(ConfigurationError) {
        let p = config.people
        if !p.identitiesFile.isEmpty {
            config.people.identities = try identities(rows(p.identitiesFile, key: "identities.file"), path: p.identitiesFile)
        }
        if !p.rosterFile.isEmpty {
            config.people.roster = try roster(rows(p.rosterFile, key: "roster.file"), path: p.rosterFile)
        }
    }

    static func identities(_ rows: [Row], path: String) throws(ConfigurationError) -> IdentityDirectory {
        let allowed = Set(["person", "team"] + IdentityDirectory.Kind.allCases.map(\.rawValue))
        var directory = IdentityDirectory()
        for row in rows {
            let (person, team) = try personAndTeam(row, allowed: allowed, path: path, key: "identities.file")
            for kind in IdentityDirectory.Kind.allCases {
                for alias in row.fields[kind.rawValue] ?? [] where !alias.isEmpty {
                    if let other = directory.add(kind, alias, IdentityDirectory.Person(person: person, team: team)) {
                        throw ConfigurationError(source: path, line: row.line, key: "identities.file",
                                                 message: "\(kind.rawValue) \(alias.quoted) is already \(other.person.quoted)'s")
                    }
                }
            }
        }
        return directory
    }

    static func roster(_ rows: [Row], path: String) throws(ConfigurationError) -> Roster {
        var roster = Roster()
        for row in rows {
            let (person, team) = try personAndTeam(row, allowed: ["person", "team"], path: path, key: "roster.file")
            if let other = roster.add(person: person, team: team ?? "unassigned") {
                throw ConfigurationError(source: path, line: row.line, key: "roster.file",
                                         message: "\(person.quoted) is listed twice, in teams \(other.quoted) and \((team ?? "unassigned").quoted)")
            }
        }
        return roster
    }

    private static func personAndTeam(_ row: Row, allowed: Set<String>, path: String, key: String) throws(ConfigurationError) -> (String, String?) {
        func fail(_ message: String) -> ConfigurationError { ConfigurationError(source: path, line: row.line, key: key, message: message) }
        if let unknown = row.fields.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw fail("unknown column \(unknown.quoted); the columns are \(allowed.sorted().joined(separator: ", "))")
        }
        guard let person = row.fields["person"]?.first, !person.isEmpty else { throw fail("a row without a person") }
        let team = row.fields["team"]?.first.flatMap { $0.isEmpty ? nil : $0 }
        return (person, team)
    }

    // MARK: - Reading

    static func rows(_ path: String, key: String) throws(ConfigurationError) -> [Row] {
        func fail(_ message: String, line: Int? = nil) -> ConfigurationError {
            ConfigurationError(source: path, line: line, key: key, message: message)
        }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw fail("cannot read the file (missing, unreadable or not UTF-8)")
        }
        if path.hasSuffix(".csv") { return try csvRows(text, fail: fail) }
        if path.hasSuffix(".yaml") || path.hasSuffix(".yml") { return try yamlRows(text, fail: fail) }
        throw fail("name the file .csv, .yaml or .yml: the ending says how it is written")
    }

    /// CSV with a header line; `#` lines and blank lines are skipped; several aliases in one cell are
    /// separated by `;`.
    static func csvRows(_ text: String, fail: (String, Int?) -> ConfigurationError) throws(ConfigurationError) -> [Row] {
        var header: [String]?
        var rows: [Row] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let cells = CSVLine.split(String(trimmed)) else { throw fail("an unclosed quote", index + 1) }
            guard let names = header else {
                header = cells.map { $0.lowercased() }
                continue
            }
            guard cells.count <= names.count else { throw fail("\(cells.count) cells under a header of \(names.count)", index + 1) }
            var fields: [String: [String]] = [:]
            for (name, cell) in zip(names, cells) where !cell.isEmpty {
                fields[name] = cell.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            }
            rows.append(Row(fields: fields, line: index + 1))
        }
        return rows
    }

    /// A YAML list of mappings; a value is a scalar or a list of scalars.
    static func yamlRows(_ text: String, fail: (String, Int?) -> ConfigurationError) throws(ConfigurationError) -> [Row] {
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch { throw fail("not YAML: \(error)", nil) }
        guard let root else { return [] }
        guard case .sequence(let items) = root else { throw fail("expected a list of people (- person: …)", root.mark?.line) }
        var rows: [Row] = []
        for item in items {
            let line = item.mark?.line ?? 0
            guard case .mapping(let mapping) = item else { throw fail("expected a mapping such as {person: alice, team: payments}", line) }
            var fields: [String: [String]] = [:]
            for (k, v) in mapping {
                let name = k.string ?? ""
                switch v {
                case .scalar(let s): fields[name] = [s.string]
                case .sequence(let list):
                    fields[name] = list.compactMap(\.string)
                    guard fields[name]!.count == list.count else { throw fail("\(name): a list of plain values only", v.mark?.line) }
                default: throw fail("\(name): a value or a list of values", v.mark?.line)
                }
            }
            rows.append(Row(fields: fields, line: line))
        }
        return rows
    }
}

/// Splits one CSV line into cells (RFC 4180 quoting: `"a, b"`, `""` for a quote); nil for an unclosed quote.
enum CSVLine {
    static func split(_ line: String) -> [String]? {
        var cells: [String] = []
        var cell = ""
        var quoted = false
        var chars = line.makeIterator()
        var pending: Character? = nil
        while let c = pending ?? chars.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    if let n = chars.next() {
                        if n == "\"" { cell.append("\"") } else { quoted = false; pending = n }
                    } else {
                        quoted = false
                    }
                } else {
                    cell.append(c)
                }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                cells.append(cell.trimmingCharacters(in: .whitespaces))
                cell = ""
            } else {
                cell.append(c)
            }
        }
        if quoted { return nil }
        cells.append(cell.trimmingCharacters(in: .whitespaces))
        return cells
    }
}
