import Logging
import ServiceLifecycle
import TokenwatchConfig
import TokenwatchCore
import UnixSignals

/// What a reload does with a new configuration: which changes apply now and which wait for a restart.
public struct ReloadPlan: Sendable {
    /// The configuration to run with: the new one, with every restart-only setting kept as it runs.
    public var effective: TokenwatchConfiguration
    /// Changes applied without losing state, as `key: old → new` (no secret values).
    public var applied: [String]
    /// Keys changed in the file that need a restart; they are ignored until then.
    public var ignored: [String]

    /// Splits `new` against the running `old`. Reloadable: `leaderboard.top_k`, `leaderboard.rank_by`,
    /// `leaderboard.weekly_cutoff`, `service_accounts.patterns`, `rules.*`, and `identities.file` and
    /// `roster.file` with what the files hold (re-read on every reload). Everything else
    /// (brokers, topics, librdkafka, engine, windows, snapshot interval, known-users horizon, http,
    /// state, replay, logging) shapes the state, the connections or the process and needs a restart.
    public static func make(old: TokenwatchConfiguration, new: TokenwatchConfiguration) -> ReloadPlan {
        var applied: [String] = []
        var ignored: [String] = []
        func check<T: Equatable>(_ key: String, _ a: T, _ b: T, into list: inout [String], show: Bool = true) {
            guard a != b else { return }
            list.append(show ? "\(key): \(a) → \(b)" : key)
        }
        /// Durations as they are written in the file (`5m → 10m`), not as milliseconds.
        func checkDuration(_ key: String, _ a: Int64, _ b: Int64, into list: inout [String]) {
            check(key, DurationText.format(ms: a), DurationText.format(ms: b), into: &list)
        }
        check("leaderboard.top_k", old.leaderboard.topK, new.leaderboard.topK, into: &applied)
        check("leaderboard.rank_by", old.leaderboard.rankBy.rawValue, new.leaderboard.rankBy.rawValue, into: &applied)
        check("leaderboard.weekly_cutoff", old.leaderboard.weeklyCutoff, new.leaderboard.weeklyCutoff, into: &applied)
        check("service_accounts.patterns", old.serviceAccounts.patterns, new.serviceAccounts.patterns, into: &applied)
        check("identities.file", old.people.identitiesFile, new.people.identitiesFile, into: &applied)
        check("identities (the file's aliases)", old.people.identities, new.people.identities, into: &applied, show: false)
        check("roster.file", old.people.rosterFile, new.people.rosterFile, into: &applied)
        check("roster (the file's people)", old.people.roster, new.people.roster, into: &applied, show: false)
        for name in Set(old.rules.keys).union(new.rules.keys).sorted() {
            check("rules.\(name)", old.rules[name], new.rules[name], into: &applied, show: false)
        }

        let k0 = old.kafka, k1 = new.kafka
        check("kafka.brokers", k0.brokers, k1.brokers, into: &ignored)
        check("kafka.group_id", k0.groupId, k1.groupId, into: &ignored)
        check("kafka.input_topic", k0.inputTopic, k1.inputTopic, into: &ignored)
        check("inputs", old.inputs.map(\.text), new.inputs.map(\.text), into: &ignored)
        check("kafka.leaderboard_topic", k0.leaderboardTopic, k1.leaderboardTopic, into: &ignored)
        check("kafka.alerts_topic", k0.alertsTopic, k1.alertsTopic, into: &ignored)
        check("kafka.deadletter_topic", k0.deadletterTopic, k1.deadletterTopic, into: &ignored)
        for property in Set(k0.librdkafka.keys).union(k1.librdkafka.keys).sorted() {
            // Values may be secrets: name the property only.
            check("kafka.librdkafka.\(property)", k0.librdkafka[property], k1.librdkafka[property], into: &ignored, show: false)
        }
        let e0 = old.engineSettings, e1 = new.engineSettings
        checkDuration("engine.allowed_lateness", e0.allowedLatenessMs, e1.allowedLatenessMs, into: &ignored)
        checkDuration("engine.idle_timeout", e0.idleTimeoutMs, e1.idleTimeoutMs, into: &ignored)
        checkDuration("engine.dedup_horizon", e0.dedupHorizonMs, e1.dedupHorizonMs, into: &ignored)
        check("engine.dedup_max_ids", e0.dedupMaxIds, e1.dedupMaxIds, into: &ignored)
        checkDuration("engine.max_future_skew", e0.maxFutureSkewMs, e1.maxFutureSkewMs, into: &ignored)
        check("engine.max_message_bytes", e0.maxMessageBytes, e1.maxMessageBytes, into: &ignored)
        check("windows", old.windows.map(\.description), new.windows.map(\.description), into: &ignored)
        checkDuration("leaderboard.snapshot_interval", old.leaderboard.snapshotIntervalMs, new.leaderboard.snapshotIntervalMs, into: &ignored)
        checkDuration("leaderboard.known_users_horizon", old.leaderboard.knownUsersHorizonMs, new.leaderboard.knownUsersHorizonMs,
              into: &ignored)
        check("http.listen", old.http.listen, new.http.listen, into: &ignored)
        check("http.bearer_token", old.http.bearerToken, new.http.bearerToken, into: &ignored, show: false)
        check("state.dir", old.state.dir, new.state.dir, into: &ignored)
        checkDuration("state.checkpoint_interval", old.state.checkpointIntervalMs, new.state.checkpointIntervalMs, into: &ignored)
        check("replay.topic_prefix", old.replay.topicPrefix, new.replay.topicPrefix, into: &ignored)
        check("logging.format", old.logging.format.rawValue, new.logging.format.rawValue, into: &ignored)
        check("logging.level", old.logging.level.rawValue, new.logging.level.rawValue, into: &ignored)

        var effective = old
        effective.leaderboard.topK = new.leaderboard.topK
        effective.leaderboard.rankBy = new.leaderboard.rankBy
        effective.leaderboard.weeklyCutoff = new.leaderboard.weeklyCutoff
        effective.serviceAccounts = new.serviceAccounts
        effective.rules = new.rules
        effective.people = new.people
        return ReloadPlan(effective: effective, applied: applied, ignored: ignored)
    }
}

/// SIGHUP: re-reads the configuration and hands what can change without losing state to the pipeline.
///
/// A configuration that does not load (bad value, unknown key, unreadable file) is rejected with the
/// loader's message, which names the file, line and key; the running configuration stays. Tells
/// systemd `RELOADING=1` and then `READY=1`. This is the one place that handles SIGHUP.
public struct ReloadService: Service {
    public typealias Loader = @Sendable () throws -> TokenwatchConfiguration

    let initial: TokenwatchConfiguration
    let load: Loader
    let pipeline: Pipeline
    let notifier: SystemdNotifier?
    let counters: ServiceCounters
    let logger: Logger

    public init(initial: TokenwatchConfiguration, load: @escaping Loader, pipeline: Pipeline, notifier: SystemdNotifier?,
                counters: ServiceCounters, logger: Logger) {
        self.initial = initial
        self.load = load
        self.pipeline = pipeline
        self.notifier = notifier
        self.counters = counters
        self.logger = logger
    }

    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        var running = initial
        for await _ in signals.cancelOnGracefulShutdown() {
            running = await reload(running)
        }
    }

    /// One reload; returns the configuration now running.
    func reload(_ running: TokenwatchConfiguration) async -> TokenwatchConfiguration {
        // Before the first READY=1 (still starting) systemd hears nothing: SystemdService sends READY when due.
        let wasReady = pipeline.status.ready
        if wasReady { notifier?.send("RELOADING=1\nMONOTONIC_USEC=\(SystemdNotifier.monotonicMicroseconds())") }
        defer { if wasReady { notifier?.send("READY=1") } }
        logger.info("SIGHUP: reloading the configuration")
        let new: TokenwatchConfiguration
        do {
            new = try load()
        } catch {
            counters.reloadsRejected.add(1, ordering: .relaxed)
            logger.error("reload rejected, keeping the running configuration: \(error)")
            return running
        }
        let plan = ReloadPlan.make(old: running, new: new)
        for key in plan.ignored {
            logger.warning("configuration change needs a restart; ignored until then: \(key)")
        }
        guard !plan.applied.isEmpty else {
            counters.reloadsApplied.add(1, ordering: .relaxed)
            logger.info("reload: nothing to apply")
            return running
        }
        let generation = pipeline.requestReload(plan.effective.engine)
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let status = pipeline.status
            if status.reloadGeneration >= generation {
                if let error = status.reloadError {
                    counters.reloadsRejected.add(1, ordering: .relaxed)
                    logger.error("reload rejected by the pipeline, keeping the running configuration: \(error)")
                    return running
                }
                counters.reloadsApplied.add(1, ordering: .relaxed)
                logger.info("configuration reloaded: \(plan.applied.joined(separator: "; "))")
                return plan.effective
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        counters.reloadsApplied.add(1, ordering: .relaxed)
        logger.warning("reload handed to the pipeline, which has not picked it up yet (busy waiting for the broker?): \(plan.applied.joined(separator: "; "))")
        return plan.effective
    }
}
