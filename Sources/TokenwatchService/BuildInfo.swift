import CBuildInfo

/// What this binary is: its release version and the git commit it was built from.
public enum BuildInfo {
    /// The release version, changed by hand at each release; the Debian package takes its version from here.
    public static let version = "0.1.0"

    /// The git commit (short hash, `-dirty` when the tree had changes) baked in by `deploy/build-deb`,
    /// or `unknown` for a plain `swift build`.
    public static let commit = String(cString: tokenwatch_build_commit())

    /// `tokenwatch 0.1.0 (commit d1a20de)`, what `tokenwatch --version` prints.
    public static var versionLine: String { "tokenwatch \(version) (commit \(commit))" }
}
