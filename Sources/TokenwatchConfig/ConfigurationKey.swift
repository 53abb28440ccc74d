/// One leaf key of the configuration: its path, how its value is written, and how it is applied.
/// The table of them (`ConfigurationKeys.all`) is the one place a key is declared; the YAML reader,
/// the environment variable names and the command-line overrides all derive from it.
struct ConfigurationKey {
    /// How a value reaches the key.
    enum Apply {
        /// One scalar: a YAML scalar, a variable's value or a flag's value.
        case scalar((inout TokenwatchConfiguration, String) throws(ValueProblem) -> Void)
        /// A list: a YAML sequence, or a comma-separated variable or flag.
        case list((inout TokenwatchConfiguration, [RawItem]) throws(ValueProblem) -> Void)
    }

    /// Dotted path, e.g. `engine.allowed_lateness`.
    var path: String
    /// What a value looks like, for type errors: "a duration such as 5m".
    var expected: String
    /// Secrets may only come from the environment.
    var isSecret: Bool = false
    /// For a list whose YAML items may be mappings (`inputs:`): their field names, in the order of the
    /// compact `a:b` text a mapping item is turned into (which is also how the environment writes one).
    var itemFields: [String] = []
    var apply: Apply

    /// `TOKENWATCH_` + the upper-case path with `_` for `.`.
    var environmentVariable: String { ConfigurationKeys.environmentVariable(forPath: path) }

    var isList: Bool {
        if case .list = apply { return true }
        return false
    }
}
