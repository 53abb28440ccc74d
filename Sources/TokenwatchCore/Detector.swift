/// Alert counts since the engine started (or was restored).
public struct DetectionCounters: Sendable, Equatable {
    public init() {}
    /// Alerts fired, by rule name.
    public var fired: [String: Int] = [:]
    /// Alerts resolved.
    public var resolved = 0
    /// Findings queued by the per-event rules (at most one per user, rule and snapshot interval).
    public var findings = 0
}

/// An alert that has fired and not yet resolved.
struct OpenAlert: Sendable, Equatable {
    var user: UInt32
    var rule: RuleKind
    var team: UInt32
    /// Event time of the first finding of this episode; part of the alert id.
    var episodeStart: Int64
    /// The behaviour was last seen going on until this event time.
    var lastSeen: Int64
    var severity: AlertSeverity
    /// The rule's configured severity when it fired, and why `severity` is above it (`Escalation`).
    var ruleSeverity: AlertSeverity
    var escalation: EscalationReasons = []
    /// Periods (days; weeks for the weekly rules) of the last `Escalation.span` the rule fired on, when it fired.
    var periods: UInt8 = 1
    /// A person's and the agent's active time (halved each day) when it fired.
    var humanMs: UInt32 = 0
    var agentMs: UInt32 = 0
    /// Score of the episode (drives suspicion); set when it fired.
    var score: Double
    /// Score and evidence when it fired (repeated in the resolved message).
    var firedScore: Double
    var evidence: Evidence
}

/// The tokenmaxxing rules and the per-user state they need; owned by `Engine`.
///
/// Determinism: per-event rules (`volume_spike`, `machine_cadence`, `duplicate_prompts`, `hollow_outcomes`) update
/// per-user state in the user's per-partition order and queue findings; the rules that compare users
/// (`peer_outlier`, `low_yield`) or weeks (`leaderboard_sprint`, `mandate_minimum`) run at snapshot
/// boundaries from event-time state, comparing this engine's users with `PeerReference`s built from
/// every shard's `PeerSample` (per window, and the closing week under `PeerSample.week`). Alerts, flags and suspicion change only at snapshot boundaries
/// (`step`), in a fixed order, so the outputs do not depend on how partitions interleave.
public struct Detector: Sendable {
    public private(set) var configuration: DetectionConfiguration
    let intervalMs: Int64
    var volume: VolumeSpikeRule
    var cadence: MachineCadenceRule
    var duplicates: DuplicatePromptsRule
    var peer: PeerOutlierRule
    var lowYield: LowYieldRule
    var sprint: LeaderboardSprintRule
    var mandate: MandateMinimumRule
    var hollow: HollowOutcomesRule
    /// Parameters by `RuleKind.index`.
    var parameters: [RuleParameters]
    /// Severity escalation settings by `RuleKind.index`.
    var escalations: [Escalation]
    /// On which recent periods each (user, rule) fired, keyed like `open`; pruned once a week is past.
    var persistence: [UInt64: Persistence] = [:]
    /// Whether any per-event rule runs (else `observe` returns at once).
    var perEvent = false
    /// Whether any weekly rule runs (else `tally` returns at once).
    var weekly = false

    var signals: [UserSignals] = []
    /// `DuplicatePromptsRule.recent` prompt fingerprints per user, most recent first.
    var prompts: [UInt16] = []
    var queue: [Finding] = []
    var open: [UInt64: OpenAlert] = [:]
    /// No open alert can resolve before this event time.
    var nextDue = Int64.max
    /// Week books by ascending cutoff.
    var weeks: [WeekBook] = []
    var lastCutoffEvaluated = Int64.min
    /// Set when a flag or suspicion changed (boards must be rebuilt); cleared by the engine.
    var changed = false
    /// Users whose flags or suspicion `step` may have changed, until the engine takes them (its boards' ranking).
    var changedUsers: [UInt32] = []
    /// Users whose alert resolved, whose persistence was dropped or whose week book closed at this
    /// snapshot: if that was all that held them, their ids can be released (`Engine.releaseVacatedUsers`).
    var letGo: [UInt32] = []
    public internal(set) var counters = DetectionCounters()

    init(configuration: DetectionConfiguration, snapshotIntervalMs: Int64) {
        self.configuration = configuration
        intervalMs = snapshotIntervalMs
        volume = VolumeSpikeRule(configuration.parameters(.volumeSpike))
        cadence = MachineCadenceRule(configuration.parameters(.machineCadence))
        duplicates = DuplicatePromptsRule(configuration.parameters(.duplicatePrompts))
        peer = PeerOutlierRule(configuration.parameters(.peerOutlier))
        lowYield = LowYieldRule(configuration.parameters(.lowYield))
        sprint = LeaderboardSprintRule(configuration.parameters(.leaderboardSprint))
        mandate = MandateMinimumRule(configuration.parameters(.mandateMinimum))
        hollow = HollowOutcomesRule(configuration.parameters(.hollowOutcomes))
        parameters = RuleKind.byIndex.map { configuration.parameters($0) }
        escalations = RuleKind.byIndex.map { Escalation(configuration.parameters($0), defaults: $0.escalationDefaults) }
        perEvent = volume.enabled || cadence.enabled || duplicates.enabled || hollow.enabled
        weekly = sprint.enabled || mandate.enabled
    }

    /// New rule settings (SIGHUP); every piece of state is kept.
    mutating func reconfigure(_ c: DetectionConfiguration) {
        var fresh = Detector(configuration: c, snapshotIntervalMs: intervalMs)
        fresh.signals = signals
        fresh.prompts = prompts
        fresh.queue = queue
        fresh.open = open
        fresh.persistence = persistence
        fresh.nextDue = .min  // cooldowns may have changed: look at every open alert at the next snapshot
        fresh.weeks = weeks
        fresh.lastCutoffEvaluated = lastCutoffEvaluated
        fresh.changed = true
        fresh.changedUsers = changedUsers
        fresh.counters = counters
        self = fresh
    }

    mutating func ensureUser(_ user: UInt32) {
        let n = Int(user) + 1
        if signals.count < n {
            signals.append(contentsOf: repeatElement(UserSignals(), count: n - signals.count))
            prompts.append(contentsOf: repeatElement(0, count: n * DuplicatePromptsRule.recent - prompts.count))
        }
    }

    // MARK: - Per event

    /// What the per-event rules read of one event besides its user, time and tokens.
    struct Observed {
        /// Outcome units (accepted + commits + PRs).
        var outcomes: UInt32 = 0
        /// Prompt-hash fingerprint (0 when the event has none).
        var prompt: UInt16 = 0
        var inputTokens: UInt32 = 0
        var accepted = false
        /// Lines added and removed.
        var lines: UInt32 = 0
        /// Whether the tool reported an outcome at all (else the outcome is unknown, not zero).
        var reported = true
        /// A person's and the agent's active time, when the event reports both (else unknown, never zero).
        var presence: (human: Int64, agent: Int64)? = nil
    }

    /// Updates the per-event rules with one counted event, in the user's per-partition order.
    /// `releaseAt` is `max(ts, partition watermark)`.
    @inline(__always)
    mutating func observe(user: UInt32, team: UInt32, ts: Int64, tokens: Int64, _ o: Observed, releaseAt: Int64) {
        guard perEvent else { return }
        let u = Int(user)
        signals[u].team = team
        if let p = o.presence { signals[u].addPresence(human: p.human, agent: p.agent, ts: ts) }
        let newHour = advanceHour(u, to: floorDiv(ts, 3_600_000))
        if floorDiv(ts, 3_600_000) == signals[u].hour {
            signals[u].hourTokens &+= tokens
            signals[u].hourOutcomes &+= o.outcomes
            signals[u].hourEvents &+= 1
            signals[u].hourReported &+= o.reported ? 1 : 0
            if o.accepted && o.lines > 0 {  // lines not reported are unknown: nothing to judge
                signals[u].hourAccepted &+= 1
                signals[u].hourLines &+= o.lines
            }
            if volume.enabled, let (score, evidence) = volume.evaluate(signals[u]) {
                enqueue(.volumeSpike, user: user, team: team, ts: ts, releaseAt: releaseAt, score: score, evidence: evidence)
            }
            if hollow.enabled, let (score, evidence) = hollow.evaluate(signals[u]) {
                enqueue(.hollowOutcomes, user: user, team: team, ts: ts, releaseAt: releaseAt, score: score, evidence: evidence)
            }
        }
        if cadence.enabled {
            if let (score, evidence) = cadence.stretch(&signals[u], ts: ts, tokens: tokens, outcomes: o.outcomes, reported: o.reported,
                                                        ownRate: ownRate(u)) {
                enqueue(.machineCadence, user: user, team: team, ts: ts, releaseAt: releaseAt, score: score, evidence: evidence)
            }
            if let (score, evidence) = cadence.observe(&signals[u], ts: ts) {
                enqueue(.machineCadence, user: user, team: team, ts: ts, releaseAt: releaseAt, score: score, evidence: evidence)
            } else if newHour, let (score, evidence) = cadence.evaluateHours(signals[u]) {
                enqueue(.machineCadence, user: user, team: team, ts: ts, releaseAt: releaseAt, score: score, evidence: evidence)
            }
        }
        if duplicates.enabled && o.prompt != 0 {
            let found = prompts.withUnsafeMutableBufferPointer { p in
                duplicates.observe(&signals[u], ring: p.baseAddress! + u * DuplicatePromptsRule.recent, fp: o.prompt, size: o.inputTokens)
            }
            if let (score, evidence) = found {
                enqueue(.duplicatePrompts, user: user, team: team, ts: ts, releaseAt: releaseAt, score: score, evidence: evidence)
            }
        }
    }

    /// Moves the user's current hour to `h` when it is later, closing the previous one; true when it moved.
    @inline(__always) private mutating func advanceHour(_ u: Int, to h: Int64) -> Bool {
        let current = signals[u].hour
        if h > current {
            if current != .min {
                volume.closeHour(&signals[u])
                hollow.closeHour(&signals[u], shift: h - current, stretchLimitMs: cadence.stretchMs / 2)
            }
            let shift = current == .min ? 32 : h - current
            signals[u].activeHours = shift >= 32 ? 1 : (signals[u].activeHours << UInt32(shift)) | 1
            signals[u].hour = h
            signals[u].hourTokens = 0
            signals[u].hourOutcomes = 0
            signals[u].hourEvents = 0
            signals[u].hourReported = 0
            signals[u].hourAccepted = 0
            signals[u].hourLines = 0
            return true
        } else if h < current {
            let back = current - h
            if back < 32 { signals[u].activeHours |= 1 << UInt32(back) }
        }
        return false
    }

    /// The user's outcomes per request in their ordinary hours, once there are enough of them.
    @inline(__always) func ownRate(_ u: Int) -> Double? {
        guard signals[u].ordinaryHours >= hollow.minHistoryHours, signals[u].ordinaryEvents > 0 else { return nil }
        return signals[u].ordinaryOutcomes / signals[u].ordinaryEvents
    }

    @inline(__always)
    private mutating func enqueue(_ rule: RuleKind, user: UInt32, team: UInt32, ts: Int64, releaseAt: Int64, score: Double, evidence: Evidence) {
        let u = Int(user)
        let bucket = floorDiv(ts, intervalMs)
        switch rule {
        case .volumeSpike:
            guard bucket > signals[u].queuedSpike else { return }
            signals[u].queuedSpike = bucket
        case .machineCadence:
            guard bucket > signals[u].queuedCadence else { return }
            signals[u].queuedCadence = bucket
        case .hollowOutcomes:
            guard bucket > signals[u].queuedHollow else { return }
            signals[u].queuedHollow = bucket
        default:
            guard bucket > signals[u].queuedDuplicates else { return }
            signals[u].queuedDuplicates = bucket
        }
        counters.findings += 1
        let presence = signals[u].presence(asOf: ts)
        queue.append(Finding(ts: ts, releaseAt: releaseAt, seenUntil: (bucket + 1) * intervalMs, user: user, team: team,
                             rule: rule, score: score, evidence: evidence,
                             humanMs: presence?.human ?? 0, agentMs: presence?.agent ?? 0))
    }

    /// Adds one event to its leaderboard week, where the engine applies events to the windows.
    @inline(__always)
    mutating func tally(user: UInt32, ts: Int64, tokens: Int64, outcomes: UInt32) {
        guard weekly else { return }
        let cutoff = configuration.cutoff(after: ts)
        guard cutoff > lastCutoffEvaluated else { return }  // that week was already evaluated
        let late = ts >= cutoff - sprint.windowMs
        for i in weeks.indices where weeks[i].cutoff == cutoff {
            weeks[i].add(user: user, tokens: tokens, outcomes: outcomes, late: late)
            return
        }
        var book = WeekBook(cutoff: cutoff)
        book.add(user: user, tokens: tokens, outcomes: outcomes, late: late)
        weeks.append(book)
        weeks.sort { $0.cutoff < $1.cutoff }
    }

    // MARK: - Snapshot boundaries

    /// Everything that happens at snapshot time `asOf` (the previous one was `previous`), before the
    /// boards of `asOf` are built: queued findings take effect, the boundary rules run, quiet alerts
    /// resolve, and suspicion follows. Alerts go to `outbox` in a fixed order.
    ///
    /// `peerReferences` holds, for each window `peerWindowsDue` named, the figures of every shard's users.
    mutating func step(asOf: Int64, previous: Int64, windows: [SlidingWindow], unreported: [SlidingWindow], users: Interner, teams: Interner,
                       unassigned: UInt32, peerReferences: [Int: PeerReference],
                       suspicion: inout [Double], outbox: inout [OutputRecord]) {
        var touched: [UInt32] = []
        var records: [OutputRecord] = []

        // 1. Findings of the per-event rules whose partitions have passed them.
        if !queue.isEmpty {
            var ready: [Finding] = []
            var keep = 0
            for i in queue.indices {
                if queue[i].releaseAt < asOf {
                    ready.append(queue[i])
                } else {
                    queue[keep] = queue[i]
                    keep += 1
                }
            }
            queue.removeLast(queue.count - keep)
            ready.sort { a, b in
                if a.ts != b.ts { return a.ts < b.ts }
                if a.rule != b.rule { return a.rule < b.rule }
                return users.less(a.user, b.user)
            }
            for f in ready {
                let order = AlertOrder(phase: 1, time: f.ts, rule: UInt8(f.rule.index))
                apply(f, order: order, touched: &touched, records: &records, users: users, teams: teams)
            }
        }

        // 2. Rules that compare a user with the team, over a window's exact totals and every shard's figures.
        func groups(_ i: Int) -> PeerGroups? {
            peerReferences[i].map { PeerGroups(window: windows[i], unreported: unreported[i], reference: $0, teams: teams, unassigned: unassigned) }
        }
        if peer.enabled && Self.due(peer.everyMs, asOf, previous), let i = Self.window(length: peer.windowMs, in: windows),
           let g = groups(i) {
            applyBoundary(peer.evaluate(g, window: windows[i]), rule: .peerOutlier, asOf: asOf, phase: 2,
                          touched: &touched, records: &records, users: users, teams: teams)
        }
        if lowYield.enabled && Self.due(lowYield.everyMs, asOf, previous), let i = Self.window(length: lowYield.windowMs, in: windows),
           let g = groups(i) {
            applyBoundary(lowYield.evaluate(g, window: windows[i]), rule: .lowYield, asOf: asOf, phase: 2,
                          touched: &touched, records: &records, users: users, teams: teams)
        }

        // 3. Weekly rules, once per cutoff.
        while let book = weeks.first, book.cutoff <= asOf {
            weeks.removeFirst()
            letGo += book.active
            lastCutoffEvaluated = max(lastCutoffEvaluated, book.cutoff)
            let order = book.active.sorted(by: users.less)
            let bunching = mandate.enabled ? mandate.bunching(peerReferences[PeerSample.week]) : nil
            for rule in [RuleKind.leaderboardSprint, .mandateMinimum] {
                var found: [PeerFinding] = []
                for u in order {
                    let result = rule == .leaderboardSprint
                        ? (sprint.enabled ? sprint.evaluate(book, user: Int(u), baseline: sprint.baseline(signals[Int(u)],
                                                            organisation: peerReferences[PeerSample.week])) : nil)
                        : (mandate.enabled ? mandate.evaluate(book, user: Int(u), reference: peerReferences[PeerSample.week],
                                                              bunching: bunching) : nil)
                    if let (score, evidence) = result {
                        found.append(PeerFinding(user: u, team: signals[Int(u)].team, score: score, evidence: evidence))
                    }
                }
                applyBoundary(found, rule: rule, asOf: asOf, phase: 3, time: book.cutoff, touched: &touched, records: &records,
                              users: users, teams: teams, sorted: true)
                if rule == .leaderboardSprint && sprint.enabled { foldSprintWeek(book, sprinted: found) }
            }
        }
        let nextCutoff = configuration.cutoff(after: previous)
        if nextCutoff <= asOf { lastCutoffEvaluated = max(lastCutoffEvaluated, nextCutoff) }

        // 4. Alerts whose behaviour has stopped for the cooldown.
        if asOf >= nextDue {
            var resolved: [OpenAlert] = []
            var next = Int64.max
            for a in open.values {
                let due = a.lastSeen + hold(a.rule)
                if asOf >= due { resolved.append(a) } else { next = min(next, due) }
            }
            nextDue = next
            resolved.sort { a, b in a.rule != b.rule ? a.rule < b.rule : users.less(a.user, b.user) }
            for a in resolved {
                open[Self.key(a.user, a.rule)] = nil
                letGo.append(a.user)
                signals[Int(a.user)].open &= ~(1 << UInt8(a.rule.index))
                touched.append(a.user)
                counters.resolved += 1
                var record = alertRecord(a, state: "resolved", ts: asOf, users: users, teams: teams)
                record.order = AlertOrder(phase: 4, time: 0, rule: UInt8(a.rule.index))
                records.append(record)
            }
        }

        if floorDiv(asOf, 86_400_000) > floorDiv(previous, 86_400_000) { prunePersistence(asOf: asOf) }
        outbox.append(contentsOf: records)
        for u in touched {
            let s = suspicionOf(u)
            if suspicion[Int(u)] != s {
                suspicion[Int(u)] = s
                changed = true
            }
        }
        if !touched.isEmpty { changed = true }
        changedUsers.append(contentsOf: touched)
    }

    /// Folds the closed week into each active user's own sprint baseline, except the users it found sprinting.
    private mutating func foldSprintWeek(_ book: WeekBook, sprinted: [PeerFinding]) {
        let skip = Set(sprinted.map(\.user))
        for u in book.active where !skip.contains(u) {
            LeaderboardSprintRule.fold(&signals[Int(u)], week: book.tokens[Int(u)], late: book.lateTokens[Int(u)])
        }
    }

    /// The engine window a boundary rule reads: the one of `length`, else the longest.
    static func window(length: Int64, in windows: [SlidingWindow]) -> Int? {
        if let i = windows.firstIndex(where: { $0.spec.lengthMs == length }) { return i }
        return windows.indices.max { windows[$0].spec.lengthMs < windows[$1].spec.lengthMs }
    }

    /// The windows whose peer references `step(asOf:previous:…)` will read: those of the peer rules due then.
    func peerWindowsDue(asOf: Int64, previous: Int64, windows: [SlidingWindow]) -> [Int] {
        var due: [Int] = []
        if peer.enabled && Self.due(peer.everyMs, asOf, previous), let i = Self.window(length: peer.windowMs, in: windows) {
            due.append(i)
        }
        if lowYield.enabled && Self.due(lowYield.everyMs, asOf, previous), let i = Self.window(length: lowYield.windowMs, in: windows),
           !due.contains(i) {
            due.append(i)
        }
        // The weekly rules compare a user with everyone's week: every shard's sample of it is needed.
        if (mandate.enabled || sprint.enabled) && configuration.cutoff(after: previous) <= asOf { due.append(PeerSample.week) }
        return due
    }

    /// This engine's users of the week whose cutoff is the first after `previous` (empty when none).
    func weekSample(previous: Int64) -> PeerSample {
        let cutoff = configuration.cutoff(after: previous)
        guard let book = weeks.first(where: { $0.cutoff == cutoff }) else { return PeerSample() }
        return PeerSample(week: book)
    }

    /// Whether a rule evaluated every `every` runs at `asOf`: a multiple of it lies in `(previous, asOf]`.
    static func due(_ every: Int64, _ asOf: Int64, _ previous: Int64) -> Bool {
        floorDiv(asOf, every) > floorDiv(previous, every)
    }

    private mutating func applyBoundary(_ found: [PeerFinding], rule: RuleKind, asOf: Int64, phase: UInt8, time: Int64 = 0,
                                        touched: inout [UInt32], records: inout [OutputRecord], users: Interner, teams: Interner,
                                        sorted: Bool = false) {
        let order = sorted ? found : found.sorted { users.less($0.user, $1.user) }
        let place = AlertOrder(phase: phase, time: time, rule: UInt8(rule.index))
        for p in order {
            apply(Finding(ts: asOf, releaseAt: asOf, seenUntil: asOf, user: p.user, team: p.team, rule: rule,
                          score: p.score, evidence: p.evidence), order: place,
                  touched: &touched, records: &records, users: users, teams: teams)
        }
    }

    /// How long an alert stays open after the behaviour was last seen: the cooldown, and at least
    /// until the rule's next evaluation for the rules evaluated on a schedule.
    func hold(_ rule: RuleKind) -> Int64 {
        let cooldown = parameters[rule.index].cooldownMs
        switch rule {
        case .peerOutlier: return max(cooldown, peer.everyMs)
        case .lowYield: return max(cooldown, lowYield.everyMs)
        case .leaderboardSprint, .mandateMinimum: return max(cooldown, 7 * 86_400_000)
        default: return cooldown
        }
    }

    @inline(__always) static func key(_ user: UInt32, _ rule: RuleKind) -> UInt64 {
        UInt64(user) << 8 | UInt64(rule.index)
    }

    private mutating func apply(_ f: Finding, order: AlertOrder, touched: inout [UInt32], records: inout [OutputRecord],
                                users: Interner, teams: Interner) {
        let key = Self.key(f.user, f.rule)
        let p = parameters[f.rule.index]
        let periods = recordPersistence(key, rule: f.rule, ts: f.ts)
        let presence = f.humanMs > 0 || f.agentMs > 0 ? (human: f.humanMs, agent: f.agentMs) : nil
        var reasons = escalations[f.rule.index].reasons(score: f.score, periods: periods, presence: presence)
        var score = f.score
        var superseded: OpenAlert? = nil
        if var a = open[key] {
            a.lastSeen = max(a.lastSeen, f.seenUntil)
            open[key] = a
            // The behaviour goes on: the episode lasts longer. Its score (and so suspicion and the
            // boards) stays as it fired, so a long episode does not rebuild every board every minute —
            // unless it has now persisted, or shown itself unattended, enough to be raised.
            let raised = a.escalation.union(reasons.subtracting(.score))
            guard p.enabled, raised != a.escalation, Escalation.raise(a.ruleSeverity, by: raised) > a.severity else { return }
            reasons = raised
            if a.escalation.contains(.score) { score = max(score, a.firedScore) }
            superseded = a
        }
        guard p.enabled else { return }
        let a = OpenAlert(user: f.user, rule: f.rule, team: f.team, episodeStart: f.ts, lastSeen: f.seenUntil,
                          severity: Escalation.raise(p.severity, by: reasons), ruleSeverity: p.severity, escalation: reasons,
                          periods: UInt8(periods), humanMs: presence?.human ?? 0, agentMs: presence?.agent ?? 0,
                          score: score, firedScore: score, evidence: f.evidence)
        if let old = superseded { supersede(old, by: a, order: order, records: &records, users: users, teams: teams) }
        open[key] = a
        nextDue = min(nextDue, a.lastSeen + hold(f.rule))
        signals[Int(f.user)].open |= 1 << UInt8(f.rule.index)
        touched.append(f.user)
        counters.fired[f.rule.rawValue, default: 0] += 1
        var record = alertRecord(a, state: "firing", ts: f.ts, users: users, teams: teams)
        record.order = order
        records.append(record)
    }

    /// Closes open alert `a` because the behaviour has gone on past its severity: its id keeps one
    /// severity, and the caller fires `next`, the raised episode, under a new id.
    private mutating func supersede(_ a: OpenAlert, by next: OpenAlert, order: AlertOrder, records: inout [OutputRecord],
                                    users: Interner, teams: Interner) {
        open[Self.key(a.user, a.rule)] = nil
        counters.resolved += 1
        var record = alertRecord(a, state: "resolved", ts: next.episodeStart, users: users, teams: teams, supersededBy: next)
        record.order = order
        records.append(record)
    }

    /// Counts a finding of `rule` at `ts` towards the persistence of `key`; the periods of the last
    /// `Escalation.span` it fired on, this one included.
    private mutating func recordPersistence(_ key: UInt64, rule: RuleKind, ts: Int64) -> Int {
        let period = Self.period(of: rule, ts: ts, configuration: configuration)
        persistence[key, default: Persistence(period: period, mask: 0)].record(period)
        return persistence[key]?.count(asOf: period) ?? 1
    }

    /// The period a finding at `ts` counts in: its UTC day, or for the weekly rules its leaderboard week.
    static func period(of rule: RuleKind, ts: Int64, configuration: DetectionConfiguration) -> Int64 {
        let day: Int64 = 86_400_000
        switch rule {
        case .leaderboardSprint, .mandateMinimum: return floorDiv(configuration.cutoff(after: ts - 1), 7 * day)
        default: return floorDiv(ts, day)
        }
    }

    /// Drops the persistence of (user, rule) pairs that have not fired within the span (they count 0).
    mutating func prunePersistence(asOf: Int64) {
        let day: Int64 = 86_400_000
        let oldestDay = floorDiv(asOf, day) - Int64(Escalation.span)
        let oldestWeek = floorDiv(configuration.cutoff(after: asOf - 1), 7 * day) - Int64(Escalation.span)
        var dropped: [UInt32] = []
        persistence = persistence.filter { key, value in
            let rule = RuleKind.byIndex[Int(key & 0xFF)]
            let weekly = rule == .leaderboardSprint || rule == .mandateMinimum
            let keep = value.period > (weekly ? oldestWeek : oldestDay)
            if !keep { dropped.append(UInt32(truncatingIfNeeded: key >> 8)) }
            return keep
        }
        letGo += dropped
    }

    // MARK: - Suspicion and flags

    /// 1 − Π(1 − wᵢ) over the user's open alerts, with wᵢ from the alert's severity and score:
    /// info 0.25–0.5, warning 0.7–0.9, critical 0.95–1 (for scores 0.5–1).
    func suspicionOf(_ user: UInt32) -> Double {
        var bits = signals[Int(user)].open
        var keep = 1.0
        while bits != 0 {
            let i = bits.trailingZeroBitCount
            bits &= bits - 1
            guard let a = open[Self.key(user, RuleKind.byIndex[i])] else { continue }
            let w: Double
            switch a.severity {
            case .info: w = 0.5 * a.score
            case .warning: w = 0.5 + 0.4 * a.score
            case .critical: w = 0.9 + 0.1 * a.score
            }
            keep *= 1 - min(1, max(0, w))
        }
        return 1 - keep
    }

    /// Names of the rules with an open alert for `user`, in catalog order.
    func flags(of user: UInt32) -> [String] {
        guard Int(user) < signals.count else { return [] }
        let bits = signals[Int(user)].open
        if bits == 0 { return [] }
        return RuleKind.byIndex.filter { bits & (1 << UInt8($0.index)) != 0 }.map(\.rawValue)
    }

    /// Whether `user`'s activity counts in `effective_active_ratio`: not flagged `mandate_minimum`
    /// and suspicion below 0.5 (any open warning or critical alert puts it above).
    @inline(__always) func isReal(_ user: UInt32, suspicion: Double) -> Bool {
        guard suspicion < 0.5 else { return false }
        guard Int(user) < signals.count else { return true }
        return signals[Int(user)].open & (1 << UInt8(RuleKind.mandateMinimum.index)) == 0
    }

    // MARK: - Alert messages

    func describe(_ a: OpenAlert, user: String, team: String, into w: inout JSONWriter) -> String {
        switch a.rule {
        case .volumeSpike: VolumeSpikeRule.describe(a.evidence, user: user, into: &w)
        case .peerOutlier: peer.describe(a.evidence, user: user, team: team, into: &w)
        case .lowYield: lowYield.describe(a.evidence, user: user, team: team, into: &w)
        case .machineCadence: MachineCadenceRule.describe(a.evidence, user: user, into: &w)
        case .duplicatePrompts: DuplicatePromptsRule.describe(a.evidence, user: user, into: &w)
        case .leaderboardSprint: sprint.describe(a.evidence, user: user, into: &w)
        case .mandateMinimum: mandate.describe(a.evidence, user: user, into: &w)
        case .hollowOutcomes: hollow.describe(a.evidence, user: user, into: &w)
        }
    }
}
