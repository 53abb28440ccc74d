import Yams

/// Where each librdkafka property of a configuration was set: a line of the file, an environment
/// variable or a command-line override.
///
/// The loader only checks that a property's name is well formed; whether librdkafka knows the
/// property and accepts its value is decided by librdkafka itself (`check-config` hands it the
/// properties). The configuration value keeps no positions, so this finds them again, to name the
/// file, line and key of a property librdkafka refuses like any other configuration error.
public struct LibrdkafkaOrigins: Sendable {
    /// One place a property was set.
    public struct Origin: Sendable, Equatable {
        /// The file path, `environment` or `command line` (as in `ConfigurationError.source`).
        public var source: String
        /// 1-based line in the file.
        public var line: Int?
        /// `kafka.librdkafka.<property>`, or the environment variable.
        public var key: String
    }

    /// Property → where its effective value comes from (the last layer that set it).
    public private(set) var origins: [String: Origin] = [:]

    /// The origins of the librdkafka properties that `ConfigurationLoader.load(path:environment:overrides:)`
    /// would apply from these same layers, later layers winning as they do there. A file that does not
    /// parse contributes nothing (loading it reports that error first).
    public static func locate(path: String?, environment: [String: String], overrides: [String: String]) -> LibrdkafkaOrigins {
        var found = LibrdkafkaOrigins()
        let prefix = ConfigurationKeys.librdkafkaPath + "."
        if let path, let text = try? String(contentsOfFile: path, encoding: .utf8),
           let root = try? Yams.compose(yaml: text), case .mapping(let properties)? = root["kafka"]?["librdkafka"] {
            for (keyNode, _) in properties {
                guard case .scalar(let name) = keyNode else { continue }
                found.origins[name.string] = Origin(source: path, line: keyNode.mark?.line, key: prefix + name.string)
            }
        }
        for name in environment.keys.sorted() {
            guard let property = ConfigurationKeys.librdkafkaProperty(forVariable: name) else { continue }
            found.origins[property] = Origin(source: ConfigurationLoader.environmentSource, key: name)
        }
        for key in overrides.keys.sorted() where key.hasPrefix(prefix) {
            found.origins[String(key.dropFirst(prefix.count))] = Origin(source: ConfigurationLoader.overridesSource, key: key)
        }
        return found
    }

    /// A configuration error about `property`, at the place it was set (`message` says what is wrong).
    public func error(property: String, message: String) -> ConfigurationError {
        let origin = origins[property] ?? Origin(source: "configuration", key: ConfigurationKeys.librdkafkaPath + "." + property)
        return ConfigurationError(source: origin.source, line: origin.line, key: origin.key, message: message)
    }
}
