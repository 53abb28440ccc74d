// Read-only questions about one person, for `tokenwatch explain` and `/users/<id>`: every rule's current
// reading against its thresholds, the open alerts, hourly usage and why effective differs from raw.
// Kept out of Engine.swift and Detector.swift (their bodies change for engine shards): everything here
// only reads state those types already keep, and nothing runs on the per-event path.

/// One condition of a rule: the person's value, the threshold, and on which side the rule fires.
public struct RuleMeasure: Sendable, Equatable {
    /// Which side of the threshold makes the condition hold.
    public enum FiresWhen: String, Sendable { case atLeast = ">=", below = "<", atMost = "<=" }
    public var name: String
    public var value: Double
    public var threshold: Double
    public var firesWhen: FiresWhen
    /// Whether the condition holds now.
    public var met: Bool {
        switch firesWhen {
        case .atLeast: value >= threshold
        case .below: value < threshold
        case .atMost: value <= threshold
        }
    }
}

/// One rule's reading for one person: every condition with its threshold, and the open alert if any.
public struct RuleReading: Sendable, Equatable {
    public var rule: String
    public var enabled: Bool
    public var severity: String
    /// The conditions; the rule fires when all hold (for `machine_cadence`, all of one pattern).
    public var measures: [RuleMeasure]
    /// What the numbers mean, in one line.
    public var note: String
    /// Whether every condition holds now (the rule would find the behaviour at its next evaluation).
    public var conditionsMet: Bool
    /// Set while an alert of this rule is open for the person.
    public var openAlert: OpenAlertReading?
}

/// An alert that is firing for the person now.
public struct OpenAlertReading: Sendable, Equatable {
    public var severity: String
    /// Event time of the episode's first finding.
    public var since: Int64
    /// Event time until which the behaviour was last seen (the cooldown counts from here).
    public var lastSeen: Int64
    /// Resolves when nothing new is seen before this event time.
    public var resolvesAfter: Int64
    public var score: Double
    public var summary: String
    /// The evidence object, as in the alert's JSON.
    public var evidenceJSON: [UInt8]
}

/// One hour of a person's usage.
public struct HourlyUsage: Sendable, Equatable {
    public var hourStart: Int64
    public var tokens: Int64
    public var events: Int64
    public var outcomes: Int64
}

/// Everything a manager should read before talking to someone about their usage.
public struct Explanation: Sendable {
    public var summary: UserSummary
    /// The window the figures and hourly usage are for.
    public var window: String
    public var asOf: Int64?
    public var flags: [String]
    /// Whether the person's activity counts in `effective_active_ratio`.
    public var countsAsReal: Bool
    public var readings: [RuleReading]
    public var hourly: [HourlyUsage]
    /// Why effective tokens differ from raw (or why they do not).
    public var effectiveReason: String
}

extension Engine {
    /// The explanation for `userId` over `window` (default: the first configured); nil for an unknown user
    /// or window. With `resolvingPseudonym`, a board pseudonym (`p-…`, see `BoardPrivacy`) names its person.
    /// `peerFigures`: the peer rules' team figures by window over every shard (default: this engine's users).
    public func explain(_ userId: String, window name: String? = nil, resolvingPseudonym: Bool = false,
                        peerFigures: [Int: PeerReference] = [:]) -> Explanation? {
        let userId = resolvingPseudonym ? person(ofPseudonym: userId) ?? userId : userId
        guard let summary = userSummary(userId) else { return nil }
        guard let wi = name.map({ n in windows.firstIndex { $0.spec.name == n } }) ?? (windows.isEmpty ? nil : 0) else { return nil }
        var copy = userId
        guard let u = copy.withUTF8({ users.lookup(UnsafeRawBufferPointer($0)) }) else { return nil }
        let flags = Int(u) < detector.signals.count ? detector.flags(of: u) : []
        let real = detector.isReal(u, suspicion: summary.suspicion)
        let readings = RuleKind.byIndex.map { reading($0, user: u, peerFigures: peerFigures) }
        return Explanation(summary: summary, window: windows[wi].spec.name, asOf: lastSnapshotAt, flags: flags,
                           countsAsReal: real, readings: readings, hourly: hourly(u, window: windows[wi]),
                           effectiveReason: effectiveReason(summary, readings: readings, real: real))
    }

    /// The user whose board pseudonym is `pseudonym`, when boards are pseudonymized. A scan of every user
    /// (two SHA-256 each): meant for a person asking about one name, not for a hot path.
    public func person(ofPseudonym pseudonym: String) -> String? {
        guard let key = configuration.privacy.pseudonymKey, pseudonym.hasPrefix("p-"), pseudonym.count == 18 else { return nil }
        for u in 0..<users.count where !users.isFree(UInt32(u)) {
            let name = users.string(UInt32(u))
            if BoardPrivacy.pseudonym(name, key: key) == pseudonym { return name }
        }
        return nil
    }

    /// Tokens, events and outcomes per UTC hour over the window's counted range, oldest first.
    func hourly(_ u: UInt32, window w: SlidingWindow) -> [HourlyUsage] {
        var out: [HourlyUsage] = []
        for e in w.entries(of: Int(u)) where e.bucket >= w.start && e.bucket < w.end {
            let hour = floorDiv(e.bucket * w.spec.stepMs, 3_600_000) * 3_600_000
            if out.last?.hourStart == hour {
                out[out.count - 1].tokens += e.tokens
                out[out.count - 1].events += Int64(e.events)
                out[out.count - 1].outcomes += Int64(e.outcomes)
            } else {
                out.append(HourlyUsage(hourStart: hour, tokens: e.tokens, events: Int64(e.events), outcomes: Int64(e.outcomes)))
            }
        }
        return out
    }

    func effectiveReason(_ s: UserSummary, readings: [RuleReading], real: Bool) -> String {
        if s.isServiceAccount { return "a service account: kept off people's boards and alerts" }
        let open = readings.filter { $0.openAlert != nil }
        if open.isEmpty {
            return "no alert is open, so suspicion is 0 and effective tokens equal raw tokens"
        }
        let parts = open.map { "\($0.rule) (\($0.openAlert!.severity), score \(AlertText.fixed($0.openAlert!.score, 2)))" }
        var text = "open alerts \(parts.joined(separator: ", ")) give suspicion \(AlertText.fixed(s.suspicion, 2)): "
            + "effective tokens = raw × (1 − suspicion)"
        if !real { text += "; this activity does not count in effective_active_ratio" }
        return text
    }

    func reading(_ rule: RuleKind, user u: UInt32, peerFigures: [Int: PeerReference] = [:]) -> RuleReading {
        let p = detector.parameters[rule.index]
        var (measures, note) = measures(rule, user: u, peerFigures: peerFigures)
        if !p.enabled { note = "disabled in the configuration; " + note }
        var open: OpenAlertReading?
        if let a = detector.open[Detector.key(u, rule)] {
            var w = JSONWriter()
            let summary = detector.describe(a, user: users.string(u), team: teams.string(a.team), into: &w)
            open = OpenAlertReading(severity: a.severity.rawValue, since: a.episodeStart, lastSeen: a.lastSeen,
                                    resolvesAfter: a.lastSeen + detector.hold(rule), score: a.score, summary: summary,
                                    evidenceJSON: w.bytes)
        }
        let met = p.enabled && !measures.isEmpty && measures.allSatisfy(\.met)
        if rule == .machineCadence, measures.count > 4 {
            // Two patterns: a steady beat (first four) or round-the-clock activity (the last).
            let beat = measures.prefix(4).allSatisfy(\.met), clock = measures.last!.met
            return RuleReading(rule: rule.rawValue, enabled: p.enabled, severity: p.severity.rawValue, measures: measures,
                               note: note, conditionsMet: p.enabled && (beat || clock), openAlert: open)
        }
        return RuleReading(rule: rule.rawValue, enabled: p.enabled, severity: p.severity.rawValue, measures: measures,
                           note: note, conditionsMet: met, openAlert: open)
    }

    private func measures(_ rule: RuleKind, user u: UInt32, peerFigures: [Int: PeerReference]) -> ([RuleMeasure], String) {
        let s = Int(u) < detector.signals.count ? detector.signals[Int(u)] : UserSignals()
        switch rule {
        case .volumeSpike: return volumeMeasures(s)
        case .machineCadence: return cadenceMeasures(s)
        case .duplicatePrompts: return duplicateMeasures(s)
        case .hollowOutcomes: return hollowMeasures(s)
        case .peerOutlier: return peerMeasures(u, peerFigures)
        case .lowYield: return lowYieldMeasures(u, peerFigures)
        case .leaderboardSprint, .mandateMinimum: return weeklyMeasures(rule, user: u)
        }
    }
}
