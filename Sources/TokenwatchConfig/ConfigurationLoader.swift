import Foundation

/// Builds the one `TokenwatchConfiguration` from its layers: defaults < YAML file < environment <
/// command-line overrides.
///
/// - File: every key of CONTRACT §4 and more; unknown keys and bad values are errors naming the key
///   path and line. Secrets (`http.bearer_token`, secret librdkafka properties) may not be written there.
/// - Environment: `TOKENWATCH_` + the upper-case key path with `_` for `.`
///   (`TOKENWATCH_ENGINE_ALLOWED_LATENESS`); lists comma-separated (`TOKENWATCH_WINDOWS=1h@1m,24h@15m`);
///   rules as `TOKENWATCH_RULES_<RULE>_<KEY>`; librdkafka properties as
///   `TOKENWATCH_KAFKA_LIBRDKAFKA_<NAME>` with `_` for `.` (`..._SASL_PASSWORD` → `sasl.password`).
///   Any other `TOKENWATCH_` variable is an error (a typo would otherwise be ignored silently), except
///   those in `reservedEnvironmentVariables`.
/// - Overrides: key paths to values as written in the environment (`["kafka.brokers": "h:9092"]`,
///   `["kafka.librdkafka.security.protocol": "SSL"]`). Secrets are refused here too: flags show in `ps`.
public enum ConfigurationLoader {
    /// Source name of errors in the environment.
    public static let environmentSource = "environment"
    /// Source name of errors in the overrides.
    public static let overridesSource = "command line"

    /// `TOKENWATCH_` variables that are not configuration keys and are left alone:
    /// `TOKENWATCH_CONFIG` (path of the file), `TOKENWATCH_LOG_LEVEL`, `TOKENWATCH_LOG_FORMAT`.
    public static let reservedEnvironmentVariables: Set<String> = [
        "TOKENWATCH_CONFIG", "TOKENWATCH_LOG_LEVEL", "TOKENWATCH_LOG_FORMAT",
    ]

    /// Loads the file at `path` (none when nil: defaults, environment and overrides only), then applies
    /// `environment` (pass `ProcessInfo.processInfo.environment`) and `overrides`.
    public static func load(
        path: String?, environment: [String: String], overrides: [String: String] = [:]
    ) throws(ConfigurationError) -> TokenwatchConfiguration {
        guard let path else {
            return try load(yaml: "", source: "defaults", environment: environment, overrides: overrides)
        }
        return try load(yaml: readFile(path), source: path, environment: environment, overrides: overrides)
    }

    /// Loads YAML text; `source` names it in errors (usually the file's path).
    public static func load(
        yaml: String, source: String, environment: [String: String] = [:], overrides: [String: String] = [:]
    ) throws(ConfigurationError) -> TokenwatchConfiguration {
        let keys = ConfigurationKeys.all
        var config = TokenwatchConfiguration()
        let layer = YAMLLayer(source: source, schema: KeySchema.tree(of: keys), allPaths: keys.map(\.path))
        try layer.apply(yaml: yaml, to: &config)
        try applyEnvironment(environment, keys: keys, to: &config)
        try applyOverrides(overrides, keys: keys, to: &config)
        // The files the configuration names are read with it, so check-config and SIGHUP see them too.
        try PeopleFiles.load(into: &config)
        if config.privacy.pseudonymize && config.privacy.pseudonymKey == nil {
            let variable = ConfigurationKeys.environmentVariable(forPath: "privacy.pseudonym_key")
            throw ConfigurationError(source: source, key: "privacy.pseudonymize",
                                     message: "is true, but no key is set: set the environment variable \(variable)")
        }
        return config
    }

    /// The environment variable that sets `keyPath` (`engine.allowed_lateness` →
    /// `TOKENWATCH_ENGINE_ALLOWED_LATENESS`; `kafka.librdkafka.sasl.password` →
    /// `TOKENWATCH_KAFKA_LIBRDKAFKA_SASL_PASSWORD`), or nil when there is no such key.
    public static func environmentVariable(forKeyPath keyPath: String) -> String? {
        let librdkafkaPrefix = ConfigurationKeys.librdkafkaPath + "."
        if keyPath.hasPrefix(librdkafkaPrefix), keyPath.count > librdkafkaPrefix.count {
            return ConfigurationKeys.environmentVariable(forLibrdkafkaProperty: String(keyPath.dropFirst(librdkafkaPrefix.count)))
        }
        return ConfigurationKeys.all.first { $0.path == keyPath }?.environmentVariable
    }

    // MARK: - Layers

    private static func applyEnvironment(
        _ environment: [String: String], keys: [ConfigurationKey], to config: inout TokenwatchConfiguration
    ) throws(ConfigurationError) {
        let byVariable = Dictionary(uniqueKeysWithValues: keys.map { ($0.environmentVariable, $0) })
        let names = environment.keys.filter {
            $0.hasPrefix(ConfigurationKeys.environmentPrefix) && !reservedEnvironmentVariables.contains($0)
        }
        for name in names.sorted() {
            let value = environment[name] ?? ""
            func fail(_ message: String) -> ConfigurationError {
                ConfigurationError(source: environmentSource, key: name, message: message)
            }
            if let key = byVariable[name] {
                do throws(ValueProblem) {
                    try apply(key, text: value, to: &config)
                } catch {
                    throw fail(error.message)
                }
            } else if let property = ConfigurationKeys.librdkafkaProperty(forVariable: name) {
                do throws(ValueProblem) {
                    try ConfigurationKeys.applyLibrdkafka(property: property, value: value, to: &config)
                } catch {
                    throw fail(error.message)
                }
            } else {
                var message = "unknown variable: no configuration key has this name"
                let candidates = Array(byVariable.keys) + Array(reservedEnvironmentVariables)
                if let close = Suggestion.closest(to: name, among: candidates) {
                    message += "; did you mean \(close)?"
                }
                throw fail(message)
            }
        }
    }

    private static func applyOverrides(
        _ overrides: [String: String], keys: [ConfigurationKey], to config: inout TokenwatchConfiguration
    ) throws(ConfigurationError) {
        let byPath = Dictionary(uniqueKeysWithValues: keys.map { ($0.path, $0) })
        let librdkafkaPrefix = ConfigurationKeys.librdkafkaPath + "."
        for path in overrides.keys.sorted() {
            let value = overrides[path] ?? ""
            func fail(_ message: String) -> ConfigurationError {
                ConfigurationError(source: overridesSource, key: path, message: message)
            }
            if let key = byPath[path] {
                if key.isSecret {
                    throw fail(
                        "is a secret and may not be given on the command line: set the environment variable \(key.environmentVariable)")
                }
                do throws(ValueProblem) {
                    try apply(key, text: value, to: &config)
                } catch {
                    throw fail(error.message)
                }
            } else if path.hasPrefix(librdkafkaPrefix) {
                let property = String(path.dropFirst(librdkafkaPrefix.count))
                if KafkaSettings.isSecretLibrdkafkaProperty(property) {
                    let variable = ConfigurationKeys.environmentVariable(forLibrdkafkaProperty: property)
                    throw fail("is a secret and may not be given on the command line: set the environment variable \(variable)")
                }
                do throws(ValueProblem) {
                    try ConfigurationKeys.applyLibrdkafka(property: property, value: value, to: &config)
                } catch {
                    throw fail(error.message)
                }
            } else {
                var message = "unknown key"
                if let close = Suggestion.closest(to: path, among: Array(byPath.keys)) {
                    message += "; did you mean '\(close)'?"
                }
                throw fail(message)
            }
        }
    }

    /// A value as text: lists are comma-separated, blanks around items ignored, and an empty text is
    /// an empty list.
    private static func apply(
        _ key: ConfigurationKey, text: String, to config: inout TokenwatchConfiguration
    ) throws(ValueProblem) {
        switch key.apply {
        case .scalar(let apply):
            try apply(&config, text)
        case .list(let apply):
            let items =
                text.trimmingBlanks().isEmpty
                ? [] : text.split(separator: ",", omittingEmptySubsequences: false).map { RawItem(text: String($0).trimmingBlanks()) }
            try apply(&config, items)
        }
    }

    // MARK: - File

    private static func readFile(_ path: String) throws(ConfigurationError) -> String {
        func fail(_ message: String) -> ConfigurationError {
            ConfigurationError(source: path, key: "", message: message)
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw fail("cannot read the configuration file: no such file")
        }
        guard !isDirectory.boolValue else {
            throw fail("cannot read the configuration file: it is a directory")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw fail("cannot read the configuration file: permission denied or unreadable")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw fail("cannot read the configuration file: it is not UTF-8 text")
        }
        return text
    }
}
