/// The `state:` section: where checkpoints live.
public struct StateSettings: Sendable, Equatable {
    /// Directory of checkpoints (key `dir`, default empty: `$STATE_DIRECTORY`, else `./tokenwatch-state/<group_id>`).
    public var dir: String = ""
    /// How often state is checkpointed, wall clock (key `checkpoint_interval`, default 30s).
    public var checkpointIntervalMs: Int64 = 30_000
    /// Whether the active instance publishes each checkpoint to the changelog topic
    /// (`<internal_topic_prefix>changelog`) for the instance that takes over (key `changelog`, default true).
    public var changelog = true
    /// With `engine.instances: split`, event time between two epochs of every partition's state on the
    /// changelog, from which the instances start again after a rebalance (key `epoch_interval`, default 5m).
    public var epochIntervalMs: Int64 = 5 * 60_000

    /// The defaults.
    public init() {}

    /// The directory to use: `dir` when set, else the first entry of `STATE_DIRECTORY` (which systemd's
    /// `StateDirectory=` sets, colon-separated when there are several), else `./tokenwatch-state/<group_id>`:
    /// by hand, runs of different groups in one working directory never share (and so never mix up) state.
    public func resolvedDirectory(environment: [String: String], groupId: String) -> String {
        if !dir.isEmpty { return dir }
        if let fromSystemd = environment["STATE_DIRECTORY"]?.split(separator: ":").first, !fromSystemd.isEmpty {
            return String(fromSystemd)
        }
        let safe = String(groupId.map { $0.isLetter || $0.isNumber || "._-".contains($0) ? $0 : "_" })
        return "./tokenwatch-state/" + (safe.isEmpty || safe.allSatisfy({ $0 == "." }) ? "default" : safe)
    }
}
