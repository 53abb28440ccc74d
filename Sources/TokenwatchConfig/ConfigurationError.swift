/// A configuration that cannot be used: which source, which line (when known), which key, and why.
///
/// `description` reads `tokenwatch.yaml:12: engine.allowed_lateness: "5x" is not a duration (write 30s, 5m, 1h, 7d)`.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file path, `environment` or `command line`.
    public var source: String
    /// 1-based line in the file, when the error is about a place in it.
    public var line: Int?
    /// The key path (`engine.allowed_lateness`), or the environment variable for errors in the
    /// environment; empty when the error is about the file as a whole.
    public var key: String
    /// What is wrong and what is expected.
    public var message: String

    /// An error in `source` (at `line`, when known) about `key`.
    public init(source: String, line: Int? = nil, key: String, message: String) {
        self.source = source
        self.line = line
        self.key = key
        self.message = message
    }

    /// `<source>:<line>: <key>: <message>`, leaving out the line and key when there are none.
    public var description: String {
        var text = source
        if let line { text += ":\(line)" }
        text += ": "
        if !key.isEmpty { text += "\(key): " }
        return text + message
    }
}
