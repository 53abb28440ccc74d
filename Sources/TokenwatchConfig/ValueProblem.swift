/// What is wrong with one value, before the loader knows where it came from; becomes a
/// `ConfigurationError` naming the source, line and key.
struct ValueProblem: Error {
    var message: String
    /// A more precise line than the key's (e.g. the bad item of a list), when known.
    var line: Int?

    init(_ message: String, line: Int? = nil) {
        self.message = message
        self.line = line
    }
}

/// One item of a list value: from a YAML sequence (with its line) or a comma-separated variable.
struct RawItem {
    var text: String
    var line: Int?
}
