/// `low_yield`: a large token volume in the window with almost no outcomes (accepted suggestions,
/// commits, PRs) compared with the team's median yield — or everyone's when the team is too small.
/// Evaluated at snapshot boundaries every `evaluate_every`, over the engine window of length `window`.
/// A team whose own median is an outlier (`PeerReference.isInflated`) is compared with everyone too,
/// and users whose tools mostly report no outcome are not compared (unknown is not zero).
struct LowYieldRule: Sendable {
    static let defaults: [String: Double] = [
        "window": 86_400_000,
        "evaluate_every": 3_600_000,
        "min_tokens": 300_000,
        "max_yield_ratio": 0.1,
        "min_team_size": 3,
        "min_ratio": 5,
        "team_ratio": 3,
        "team_yield_ratio": 0.5,
    ]

    var enabled: Bool
    var windowMs: Int64
    var everyMs: Int64
    /// Tokens in the window below which it never fires.
    var minTokens: Double
    /// Fires when outcomes per token are below this share of the reference median.
    var maxYieldRatio: Double
    /// Teams with fewer active users are compared with everyone instead.
    var minTeamSize: Int
    /// Tokens must reach this multiple of the reference median: a low yield at an ordinary volume is a
    /// way of working (reading, reviewing), not inflation.
    var minRatio: Double
    /// A team whose median tokens reach this multiple of the median team's ...
    var teamRatio: Double
    /// ... at a median yield below this share of everyone's is compared with everyone.
    var teamYieldRatio: Double

    init(_ p: RuleParameters) {
        let d = Self.defaults
        enabled = p.enabled
        windowMs = Int64(p.value("window", d))
        everyMs = max(60_000, Int64(p.value("evaluate_every", d)))
        minTokens = p.value("min_tokens", d)
        maxYieldRatio = p.value("max_yield_ratio", d)
        minTeamSize = Int(max(1, p.value("min_team_size", d)))
        minRatio = p.value("min_ratio", d)
        teamRatio = p.value("team_ratio", d)
        teamYieldRatio = p.value("team_yield_ratio", d)
    }

    func evaluate(_ peers: PeerGroups, window w: SlidingWindow) -> [PeerFinding] {
        var out: [PeerFinding] = []
        for (team, local) in peers.groups {
            let g = local.reference
            let teamSized = g.members >= minTeamSize
                && !peers.reference.isInflated(g, ratio: teamRatio, yieldRatio: teamYieldRatio)
            let reference = teamSized ? g.medianYield : peers.globalMedianYield
            let medianTokens = teamSized ? g.medianTokens : peers.reference.orgMedianTokens
            guard reference > 0 else { continue }
            for u in local.members {
                let tokens = Double(w.tokens[Int(u)])
                guard tokens >= minTokens, tokens >= minRatio * medianTokens else { continue }
                let outcomes = Double(w.outcomes[Int(u)])
                guard let yield = peers.yield(of: u, in: w), yield < maxYieldRatio * reference else { continue }
                let evidence = Evidence(a: tokens, b: outcomes, c: yield * 100_000, d: reference * 100_000,
                                        e: teamSized ? Double(g.members) : 0, f: 0)
                out.append(PeerFinding(user: u, team: team, score: belowScore(yield, under: maxYieldRatio * reference),
                                       evidence: evidence))
            }
        }
        return out
    }

    func describe(_ e: Evidence, user: String, team: String, into w: inout JSONWriter) -> String {
        w.beginObject()
        w.key("window_ms"); w.int(windowMs)
        w.key("tokens"); w.int(Int64(e.a))
        w.key("outcomes"); w.int(Int64(e.b))
        w.key("outcomes_per_100k_tokens"); w.decimal(e.c, decimals: 2)
        w.key("reference"); w.string(e.e > 0 ? "team" : "everyone")
        w.key("reference_median_outcomes_per_100k_tokens"); w.decimal(e.d, decimals: 2)
        if e.e > 0 { w.key("team_active_users"); w.int(Int64(e.e)) }
        w.endObject()
        let reference = e.e > 0 ? "team \(team)'s median is \(AlertText.fixed(e.d, 1))" : "the median is \(AlertText.fixed(e.d, 1))"
        return "\(user) used \(AlertText.tokens(e.a)) tokens in \(AlertText.duration(ms: windowMs)) with "
            + "\(AlertText.count(e.b, "outcome", "outcomes")) (\(AlertText.fixed(e.c, 2)) per 100k tokens; \(reference))"
    }
}
