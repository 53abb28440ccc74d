/// Why `Engine.reconfigure(_:)` refused a configuration.
public struct ReconfigureError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The engine settings that differ and cannot change while state is kept.
    public var fields: [String]
    public init(fields: [String]) { self.fields = fields }
    public var description: String {
        "cannot change \(fields.joined(separator: ", ")) without a restart (the state is built on them)"
    }
}

/// What the engine holds about one user, for the HTTP API (`/users/<id>`).
public struct UserSummary: Sendable, Equatable {
    /// One window's figures for the user, over the window's last emitted range.
    public struct WindowFigures: Sendable, Equatable {
        public var window: String
        public var windowStart: Int64
        public var windowEnd: Int64
        public var tokens: Int64
        public var events: Int64
        public var outcomes: Int64
        public var effectiveTokens: Int64
    }

    public var userId: String
    /// The team of the user's newest counted event (nil when none is counted in any window).
    public var team: String?
    public var isServiceAccount: Bool
    public var suspicion: Double
    public var windows: [WindowFigures]
    /// Events in the known-users horizon (`leaderboard.known_users_horizon`).
    public var knownEvents: Int64
}

extension Engine {
    /// Adopts a new configuration that differs only in what can change without losing state:
    /// `topK`, `rankBy`, `serviceAccountPatterns`, `maxFutureSkewMs`, `idleTimeoutMs` and the rules'
    /// settings. Boards are rebuilt at the next snapshot.
    ///
    /// New service-account patterns decide for events from now on; usage already counted in windows
    /// stays until it ages out. Throws, leaving the engine unchanged, when a structural setting
    /// (windows, snapshot interval, lateness, de-duplication, known-users horizon, message limit) differs.
    public mutating func reconfigure(_ new: EngineConfiguration) throws(ReconfigureError) {
        let old = configuration
        var differs: [String] = []
        if old.windows != new.windows { differs.append("windows") }
        if old.snapshotIntervalMs != new.snapshotIntervalMs { differs.append("snapshot_interval") }
        if old.allowedLatenessMs != new.allowedLatenessMs { differs.append("allowed_lateness") }
        if old.dedupHorizonMs != new.dedupHorizonMs { differs.append("dedup_horizon") }
        if old.dedupMaxIdsPerPartition != new.dedupMaxIdsPerPartition { differs.append("dedup_max_ids") }
        if old.knownUsersHorizonMs != new.knownUsersHorizonMs { differs.append("known_users_horizon") }
        if old.maxMessageBytes != new.maxMessageBytes { differs.append("max_message_bytes") }
        guard differs.isEmpty else { throw ReconfigureError(fields: differs) }

        configuration = new
        // New rule settings (enabled, severity, thresholds) apply from the next event and snapshot; state is kept.
        detector.reconfigure(new.detection)
        if old.serviceAccountPatterns != new.serviceAccountPatterns {
            servicePatterns = new.serviceAccountPatterns.map(GlobPattern.init)
            for u in 0..<users.count where !users.isFree(UInt32(u)) {
                let name = users.string(UInt32(u))
                userIsService[u] = servicePatterns.contains { $0.matches(name) }
            }
        }
        invalidateBoards()
    }

    /// Distinct users the engine holds an id and counters for.
    public var trackedUsers: Int { users.liveCount }

    /// Per window (configuration order): users with events in its range as of the last snapshot.
    public var activeUsersPerWindow: [(window: String, users: Int)] { windows.map { ($0.spec.name, $0.active.count) } }

    /// The user's figures in every window as of the last snapshot, or nil for a user never seen.
    /// Read-only; the pipeline thread calls it between batches.
    public func userSummary(_ userId: String) -> UserSummary? {
        var name = userId
        let found = name.withUTF8 { users.lookup(UnsafeRawBufferPointer($0)) }
        guard let u = found else { return nil }
        let index = Int(u)
        let s = index < suspicion.count ? suspicion[index] : 0
        var team: UInt32?
        var figures: [UserSummary.WindowFigures] = []
        for w in windows {
            let has = index < w.tokens.count
            let tokens = has ? w.tokens[index] : 0
            if team == nil { team = w.team(of: u) }
            // The range of the last snapshot (0 before the first one).
            let end = lastSnapshotAt.map { w.spec.end(asOf: $0) } ?? 0
            figures.append(UserSummary.WindowFigures(
                window: w.spec.name, windowStart: lastSnapshotAt == nil ? 0 : end - w.spec.lengthMs, windowEnd: end,
                tokens: tokens, events: has ? w.events[index] : 0, outcomes: has ? w.outcomes[index] : 0,
                effectiveTokens: Engine.effectiveTokens(tokens, suspicion: s)))
        }
        if team == nil { team = known.team(of: u) }
        return UserSummary(
            userId: userId, team: team.map { teams.string($0) },
            isServiceAccount: index < userIsService.count && userIsService[index], suspicion: s,
            windows: figures, knownEvents: index < known.events.count ? known.events[index] : 0)
    }
}
