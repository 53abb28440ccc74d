// Each rule's conditions, read from the state the rule itself keeps, with the thresholds it uses.
// They mirror the rules' `evaluate`/`observe` guards; the rule files stay the single place that decides.

extension Engine {
    func volumeMeasures(_ s: UserSignals) -> ([RuleMeasure], String) {
        let v = detector.volume
        let tokens = Double(s.hourTokens)
        let expected = s.baseTokens > 0 ? s.baseOutcomes / s.baseTokens * tokens : 0
        let measures = [
            RuleMeasure(name: "active_hours_of_history", value: Double(s.baseHours), threshold: Double(v.minHistoryHours), firesWhen: .atLeast),
            RuleMeasure(name: "tokens_this_hour", value: tokens, threshold: max(v.minTokens, v.factor * s.baseTokens), firesWhen: .atLeast),
            RuleMeasure(name: "outcomes_this_hour", value: Double(s.hourOutcomes), threshold: v.yieldRatio * expected, firesWhen: .below),
        ]
        let hour = s.hour == .min ? "no hour yet" : "hour from \(AlertText.utc(s.hour * 3_600_000))"
        return (measures, "\(hour): \(AlertText.tokens(tokens)) tokens against a usual \(AlertText.tokens(s.baseTokens)) per active hour "
            + "(fires at \(AlertText.fixed(v.factor, 0))× that, at least \(AlertText.tokens(v.minTokens)), with outcomes below "
            + "\(AlertText.percent(v.yieldRatio)) of the usual rate)")
    }

    func hollowMeasures(_ s: UserSignals) -> ([RuleMeasure], String) {
        let h = detector.hollow
        let perAccept = s.hourAccepted > 0 ? Double(s.hourLines) / Double(s.hourAccepted) : 0
        let hollowHours = Double((s.hollowHours & h.spanMask).nonzeroBitCount)
        let measures = [
            RuleMeasure(name: "tokens_this_hour", value: Double(s.hourTokens), threshold: Double(h.minTokens), firesWhen: .atLeast),
            RuleMeasure(name: "accepted_this_hour", value: Double(s.hourAccepted), threshold: Double(h.minAccepted), firesWhen: .atLeast),
            RuleMeasure(name: "lines_per_accepted", value: perAccept, threshold: h.maxLinesPerAccept, firesWhen: .atMost),
            RuleMeasure(name: "hollow_hours_in_span", value: hollowHours + (h.isHollow(s) ? 1 : 0), threshold: Double(h.minHours), firesWhen: .atLeast),
            RuleMeasure(name: "ordinary_hours_of_history", value: Double(s.ordinaryHours), threshold: Double(h.minHistoryHours),
                        firesWhen: .atLeast),
        ]
        return (measures, "fires on many accepted requests with almost no code in a heavy hour, or on "
            + "\(h.minHours) heavy hours whose outcomes fall below \(AlertText.percent(h.yieldRatio)) of the user's own rate")
    }

    func cadenceMeasures(_ s: UserSignals) -> ([RuleMeasure], String) {
        let c = detector.cadence
        let requests = s.runBeats + 1
        let std = s.runBeats >= 2 ? (s.runM2 / Double(s.runBeats - 1)).squareRoot() : 0
        let cv = s.runBeats >= 2 && s.runMean > 0 ? std / s.runMean : 1
        let duration = s.runStart == .min ? 0 : Double(s.beatTs - s.runStart)
        let hours = (s.activeHours & 0x00FF_FFFF).nonzeroBitCount
        let measures = [
            RuleMeasure(name: "beat_requests", value: Double(s.runBeats == 0 ? 0 : requests), threshold: Double(c.minRequests), firesWhen: .atLeast),
            RuleMeasure(name: "beat_duration_ms", value: duration, threshold: Double(c.minDurationMs), firesWhen: .atLeast),
            RuleMeasure(name: "beat_interval_cv", value: cv, threshold: c.maxCV, firesWhen: .atMost),
            RuleMeasure(name: "beat_mean_interval_ms", value: s.runMean, threshold: c.minIntervalMs, firesWhen: .atLeast),
            RuleMeasure(name: "active_hours_of_last_24", value: Double(hours), threshold: Double(c.activeHours), firesWhen: .atLeast),
        ]
        let beat = s.runBeats == 0 ? "no steady beat"
            : "current beat: \(requests) requests at \(AlertText.fixed(s.runMean / 1000, 1)) s ± \(AlertText.fixed(std / 1000, 1)) s "
              + "over \(AlertText.duration(ms: Int64(duration)))"
        return (measures, "\(beat); active in \(hours) of the last 24 hours (a beat needs a coefficient of variation of at most "
            + "\(AlertText.fixed(c.maxCV, 2)); round the clock means \(c.activeHours)+ hours)")
    }

    func duplicateMeasures(_ s: UserSignals) -> ([RuleMeasure], String) {
        let d = detector.duplicates
        let n = Int(s.hashed)
        let mask: UInt64 = n >= 64 ? ~0 : (1 << UInt64(n)) - 1
        let repeats = (s.repeats & mask).nonzeroBitCount
        let share = n > 0 ? Double(repeats) / Double(n) : 0
        let measures = [
            RuleMeasure(name: "hashed_requests", value: Double(n), threshold: Double(d.minRequests), firesWhen: .atLeast),
            RuleMeasure(name: "repeat_share", value: share, threshold: d.minShare, firesWhen: .atLeast),
        ]
        return (measures, "\(repeats) of the last \(n) requests with a prompt hash repeated a recent prompt (\(AlertText.percent(share)))")
    }

    func peerMeasures(_ u: UInt32, _ figures: [Int: PeerReference]) -> ([RuleMeasure], String) {
        let p = detector.peer
        guard let i = Detector.window(length: p.windowMs, in: windows) else {
            return ([], "no configured window is \(AlertText.duration(ms: p.windowMs)) long, so the rule cannot run")
        }
        let w = windows[i]
        let team = w.team(of: u) ?? unassignedTeam
        let g = (figures[i] ?? PeerReference(samples: [peerSample(window: i)])).groups[teams.string(team)] ?? PeerReference.Group()
        let tokens = Int(u) < w.tokens.count ? Double(w.tokens[Int(u)]) : 0
        let outcomes = Int(u) < w.outcomes.count ? Double(w.outcomes[Int(u)]) : 0
        let scale = max(1.4826 * g.mad, 0.05 * g.medianTokens, 1)
        let measures = [
            RuleMeasure(name: "team_active_users", value: Double(g.members), threshold: Double(p.minTeamSize), firesWhen: .atLeast),
            RuleMeasure(name: "tokens", value: tokens, threshold: p.minTokens, firesWhen: .atLeast),
            RuleMeasure(name: "ratio_to_team_median", value: g.medianTokens > 0 ? tokens / g.medianTokens : 0, threshold: p.minRatio, firesWhen: .atLeast),
            RuleMeasure(name: "robust_z", value: (tokens - g.medianTokens) / scale, threshold: p.madFactor, firesWhen: .atLeast),
            RuleMeasure(name: "outcomes_per_100k_tokens", value: tokens > 0 ? outcomes / tokens * 100_000 : 0,
                        threshold: p.yieldRatio * g.medianYield * 100_000, firesWhen: .below),
        ]
        return (measures, "\(AlertText.tokens(tokens)) tokens in \(w.spec.name) against team \(teams.string(team))'s median "
            + "\(AlertText.tokens(g.medianTokens)) over \(g.members) active members")
    }

    func lowYieldMeasures(_ u: UInt32, _ figures: [Int: PeerReference]) -> ([RuleMeasure], String) {
        let l = detector.lowYield
        guard let i = Detector.window(length: l.windowMs, in: windows) else {
            return ([], "no configured window is \(AlertText.duration(ms: l.windowMs)) long, so the rule cannot run")
        }
        let w = windows[i]
        let team = w.team(of: u) ?? unassignedTeam
        let stats = figures[i] ?? PeerReference(samples: [peerSample(window: i)])
        let g = stats.groups[teams.string(team)] ?? PeerReference.Group()
        let teamSized = g.members >= l.minTeamSize
        let reference = teamSized ? g.medianYield : stats.globalMedianYield
        let tokens = Int(u) < w.tokens.count ? Double(w.tokens[Int(u)]) : 0
        let outcomes = Int(u) < w.outcomes.count ? Double(w.outcomes[Int(u)]) : 0
        let measures = [
            RuleMeasure(name: "tokens", value: tokens, threshold: l.minTokens, firesWhen: .atLeast),
            RuleMeasure(name: "outcomes_per_100k_tokens", value: tokens > 0 ? outcomes / tokens * 100_000 : 0,
                        threshold: l.maxYieldRatio * reference * 100_000, firesWhen: .below),
        ]
        let against = teamSized ? "team \(teams.string(team))'s median" : "everyone's median (team too small)"
        return (measures, "\(AlertText.count(outcomes, "outcome", "outcomes")) for \(AlertText.tokens(tokens)) tokens in \(w.spec.name); "
            + "\(against) is \(AlertText.fixed(reference * 100_000, 1)) per 100k tokens")
    }

    func weeklyMeasures(_ rule: RuleKind, user u: UInt32) -> ([RuleMeasure], String) {
        guard let book = detector.weeks.first else { return ([], "no week is being tallied yet") }
        let has = Int(u) < book.events.count
        let week = has ? Double(book.tokens[Int(u)]) : 0
        let events = has ? Double(book.events[Int(u)]) : 0
        let when = "week to the \(AlertText.utc(book.cutoff)) cutoff, evaluated there"
        if rule == .leaderboardSprint {
            let s = detector.sprint
            let late = has ? Double(book.lateTokens[Int(u)]) : 0
            // The user's own usual share when they have the weeks (the organisation's is known only at the cutoff).
            let own = Int(u) < detector.signals.count ? s.baseline(detector.signals[Int(u)], organisation: nil) : .init()
            let usual = own.ownWeeks > 0 ? "; usually \(AlertText.percent(own.share)) (their own \(own.ownWeeks) earlier weeks)" : ""
            return ([
                RuleMeasure(name: "tokens_before_cutoff", value: late, threshold: s.minTokens, firesWhen: .atLeast),
                RuleMeasure(name: "share_of_week_before_cutoff", value: week > 0 ? late / week : 0, threshold: s.threshold(own), firesWhen: .atLeast),
            ], "\(when): \(AlertText.tokens(late)) of \(AlertText.tokens(week)) tokens in the last \(AlertText.duration(ms: s.windowMs))\(usual)")
        }
        let m = detector.mandate
        return ([
            RuleMeasure(name: "week_requests", value: events, threshold: 1, firesWhen: .atLeast),
            RuleMeasure(name: "week_requests_at_most", value: events, threshold: Double(m.maxRequests), firesWhen: .atMost),
            RuleMeasure(name: "week_tokens", value: week, threshold: Double(m.maxTokens), firesWhen: .atMost),
        ], "\(when): \(AlertText.count(events, "request", "requests")), \(AlertText.tokens(week)) tokens so far")
    }
}
