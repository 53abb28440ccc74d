import Testing
@testable import TokenwatchConfig
import Yams

/// Loads `yaml` as `tokenwatch.yaml`.
func load(
    _ yaml: String, environment: [String: String] = [:], overrides: [String: String] = [:]
) throws -> TokenwatchConfiguration {
    try ConfigurationLoader.load(yaml: yaml, source: "tokenwatch.yaml", environment: environment, overrides: overrides)
}

/// The error loading `yaml` gives, or nil (recording an issue) when it loads.
func loadError(
    _ yaml: String, environment: [String: String] = [:], overrides: [String: String] = [:],
    sourceLocation: SourceLocation = #_sourceLocation
) -> ConfigurationError? {
    do {
        _ = try ConfigurationLoader.load(
            yaml: yaml, source: "tokenwatch.yaml", environment: environment, overrides: overrides)
    } catch {
        return error
    }
    Issue.record("expected a configuration error", sourceLocation: sourceLocation)
    return nil
}

/// The repository's root, found from this file's path.
let repositoryRoot: String = {
    var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
    parts.removeLast(3)  // Tests/TokenwatchConfigTests/Helpers.swift
    return parts.joined(separator: "/")
}()

let examplePath = repositoryRoot + "/config/tokenwatch.yaml"

/// The key paths written in `config/tokenwatch.yaml` (`kafka.brokers`, `rules.volume_spike.factor`, …),
/// with `kafka.librdkafka` as one key.
func exampleKeyPaths() throws -> Set<String> {
    let text = try String(contentsOfFile: examplePath, encoding: .utf8)
    let root = try #require(try Yams.compose(yaml: text))
    var written: Set<String> = []
    func collect(_ node: Node, _ path: String) {
        guard case .mapping(let mapping) = node, path != ConfigurationKeys.librdkafkaPath else {
            written.insert(path)
            return
        }
        for (key, value) in mapping {
            collect(value, path.isEmpty ? key.string! : path + "." + key.string!)
        }
    }
    collect(root, "")
    return written
}
