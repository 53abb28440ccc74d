import Foundation
import Testing
import TokenwatchCore
@testable import TokenwatchConfig

@Suite("identities.file and roster.file: CSV or YAML, errors naming file, line and key")
struct PeopleFilesTests {
    static func file(_ name: String, _ text: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tw-people-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let path = dir.appendingPathComponent(name).path
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func identitiesCSV() throws {
        let path = try Self.file("ids.csv", """
            # people and their aliases
            person,team,email,account_uuid,install_id
            alice,payments,"alice@example.com; a.smith@example.com",uuid-alice,
            bob,infra,,uuid-bob,install-7
            """)
        let config = try load("identities:\n  file: \(path)\n")
        let d = config.people.identities
        #expect(d.count == 5)
        #expect(d.resolve(.email, "A.Smith@example.com") == .init(person: "alice", team: "payments"))
        #expect(d.resolve(.installId, "install-7")?.person == "bob")
        #expect(config.engine.identities == d)
    }

    @Test func identitiesYAML() throws {
        let path = try Self.file("ids.yaml", """
            - person: alice
              team: payments
              email: [alice@example.com, a.smith@example.com]
              github: asmith
            - {person: bob, account_id: "42"}
            """)
        let d = try load("identities:\n  file: \(path)\n").people.identities
        #expect(d.resolve(.github, "asmith")?.team == "payments")
        #expect(d.resolve(.accountId, "42") == .init(person: "bob"))
    }

    @Test func anAliasOfTwoPeopleNamesItsLine() throws {
        let path = try Self.file("ids.csv", "person,email\nalice,x@example.com\n\nbob,X@example.com\n")
        let error = try #require(loadError("identities:\n  file: \(path)\n"))
        #expect(error.source == path && error.line == 4 && error.key == "identities.file")
        #expect(error.message.contains("alice"))
    }

    @Test func unknownColumnAndMissingPerson() throws {
        let bad = try Self.file("ids.yaml", "- {person: a, emial: a@b}\n")
        #expect(try #require(loadError("identities:\n  file: \(bad)\n")).message.contains("emial"))
        let nobody = try Self.file("ids.csv", "person,email\n,a@b\n")
        #expect(try #require(loadError("identities:\n  file: \(nobody)\n")).line == 2)
        #expect(try #require(loadError("identities:\n  file: /nonexistent/ids.csv\n")).key == "identities.file")
        let txt = try Self.file("ids.txt", "person\n")
        #expect(try #require(loadError("identities:\n  file: \(txt)\n")).message.contains(".csv"))
    }

    @Test func rosterCSVAndYAML() throws {
        let csv = try Self.file("roster.csv", "person,team\np1,a\np2,a\np3,b\n")
        let roster = try #require(try load("roster:\n  file: \(csv)\n").people.roster)
        #expect(roster.count == 3 && roster.sizes == ["a": 2, "b": 1])
        let yaml = try Self.file("roster.yml", "- {person: p1, team: a}\n- {person: p2}\n")
        let r2 = try #require(try load("", environment: ["TOKENWATCH_ROSTER_FILE": yaml]).people.roster)
        #expect(r2.teams == ["p1": "a", "p2": "unassigned"])
        let twice = try Self.file("roster.csv", "person,team\np1,a\np1,b\n")
        #expect(try #require(loadError("roster:\n  file: \(twice)\n")).line == 3)
    }
}
