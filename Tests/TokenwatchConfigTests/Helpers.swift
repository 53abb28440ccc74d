import Testing
@testable import TokenwatchConfig

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
