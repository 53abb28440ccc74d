import Foundation
import Testing
@testable import TokenwatchConfig

/// docs/configuration.md is written by hand; these keep it in step with the code and the example file.
@Suite("docs/configuration.md documents every key")
struct DocumentationTests {
    static let page = repositoryRoot + "/docs/configuration.md"

    /// Every backticked text on the page (`kafka.brokers`, `5m`, …).
    static func backticked() throws -> Set<String> {
        let text = try String(contentsOfFile: page, encoding: .utf8)
        return Set(text.matches(of: /`([^`\n]+)`/).map { String($0.output.1) })
    }

    @Test("every key of config/tokenwatch.yaml and of the loader, secrets included, is on the page")
    func everyKeyIsDocumented() throws {
        let documented = try Self.backticked()
        let keys = try exampleKeyPaths().union(ConfigurationKeys.all.map(\.path))
        #expect(keys.subtracting(documented).sorted() == [], "keys missing from docs/configuration.md")
    }

    @Test("every key the page's tables name exists")
    func everyDocumentedKeyExists() throws {
        let text = try String(contentsOfFile: Self.page, encoding: .utf8)
        let known = Set(ConfigurationKeys.all.map(\.path) + [ConfigurationKeys.librdkafkaPath])
        var named: Set<String> = []
        for line in text.split(separator: "\n") where line.hasPrefix("| `") {
            let firstCell = line.dropFirst(2).prefix { $0 != "|" }
            for match in firstCell.matches(of: /`([^`]+)`/) where !match.output.1.contains("<") {
                named.insert(String(match.output.1))
            }
        }
        #expect(!named.isEmpty)
        #expect(named.subtracting(known).sorted() == [], "docs/configuration.md names keys that do not exist")
    }
}
