/// `peer_outlier`: a user's tokens in the window far above the team's robust spread (median and
/// median absolute deviation), without the outcomes that would match them. Evaluated at snapshot
/// boundaries every `evaluate_every`, over the engine window whose length is `window`.
///
/// When a team's own median is an outlier against the organisation (`PeerReference.isInflated`: a team
/// gaming together), its members are compared with the organisation's median and spread instead. Users
/// whose tools mostly report no outcome are not compared (their yield is unknown, not zero).
struct PeerOutlierRule: Sendable {
    static let defaults: [String: Double] = [
        "window": 86_400_000,
        "evaluate_every": 3_600_000,
        "min_tokens": 500_000,
        "min_ratio": 4,
        "mad_factor": 5,
        "yield_ratio": 0.25,
        "min_team_size": 5,
        "team_ratio": 3,
        "team_yield_ratio": 0.5,
    ]

    var enabled: Bool
    /// Length of the engine window compared (the longest window when none has this length).
    var windowMs: Int64
    /// Evaluated at event times that are multiples of this.
    var everyMs: Int64
    /// Tokens in the window below which it never fires.
    var minTokens: Double
    /// Tokens must reach this multiple of the team's median.
    var minRatio: Double
    /// ... and this many robust standard deviations (1.4826 × MAD) above it.
    var madFactor: Double
    /// ... with outcomes per token below this share of the team's median.
    var yieldRatio: Double
    /// Teams with fewer active users in the window are not compared.
    var minTeamSize: Int
    /// A team whose median reaches this multiple of the median team's ...
    var teamRatio: Double
    /// ... at a median yield below this share of everyone's is compared with the organisation.
    var teamYieldRatio: Double

    init(_ p: RuleParameters) {
        let d = Self.defaults
        enabled = p.enabled
        windowMs = Int64(p.value("window", d))
        everyMs = max(60_000, Int64(p.value("evaluate_every", d)))
        minTokens = p.value("min_tokens", d)
        minRatio = p.value("min_ratio", d)
        madFactor = p.value("mad_factor", d)
        yieldRatio = p.value("yield_ratio", d)
        minTeamSize = Int(max(2, p.value("min_team_size", d)))
        teamRatio = p.value("team_ratio", d)
        teamYieldRatio = p.value("team_yield_ratio", d)
    }

    /// What a team's members are compared with: median tokens, robust scale, median yield, and
    /// whether that is the organisation (the team's own median being an outlier).
    func baseline(_ g: PeerReference.Group, _ r: PeerReference) -> (median: Double, scale: Double, yield: Double, org: Bool) {
        if r.isInflated(g, ratio: teamRatio, yieldRatio: teamYieldRatio) {
            return (r.orgMedianTokens, max(1.4826 * r.orgMAD, 0.05 * r.orgMedianTokens, 1), r.globalMedianYield, true)
        }
        return (g.medianTokens, max(1.4826 * g.mad, 0.05 * g.medianTokens, 1), g.medianYield, false)
    }

    func evaluate(_ peers: PeerGroups, window w: SlidingWindow) -> [PeerFinding] {
        var out: [PeerFinding] = []
        for (team, local) in peers.groups where local.reference.members >= minTeamSize {
            let g = local.reference
            let base = baseline(g, peers.reference)
            for u in local.members {
                let tokens = Double(w.tokens[Int(u)])
                guard tokens >= minTokens, tokens >= minRatio * base.median else { continue }
                let z = (tokens - base.median) / base.scale
                guard z >= madFactor, let yield = peers.yield(of: u, in: w), yield < yieldRatio * base.yield else { continue }
                // A negative team size says the reference is the organisation.
                let evidence = Evidence(a: tokens, b: base.median, c: z, d: yield * 100_000,
                                        e: base.yield * 100_000, f: Double(g.members) * (base.org ? -1 : 1))
                out.append(PeerFinding(user: u, team: team, score: exceedScore(z, over: madFactor), evidence: evidence))
            }
        }
        return out
    }

    func describe(_ e: Evidence, user: String, team: String, into w: inout JSONWriter) -> String {
        w.beginObject()
        w.key("window_ms"); w.int(windowMs)
        w.key("tokens"); w.int(Int64(e.a))
        w.key("team_median_tokens"); w.int(Int64(e.b.rounded()))
        w.key("ratio_to_median"); w.decimal(e.b > 0 ? e.a / e.b : 0, decimals: 2)
        w.key("robust_z"); w.decimal(e.c, decimals: 2)
        w.key("outcomes_per_100k_tokens"); w.decimal(e.d, decimals: 2)
        w.key("team_median_outcomes_per_100k_tokens"); w.decimal(e.e, decimals: 2)
        w.key("team_active_users"); w.int(Int64(abs(e.f)))
        w.key("reference"); w.string(e.f < 0 ? "organisation" : "team")
        w.endObject()
        let whose = e.f < 0 ? "the organisation's median (team \(team)'s own median is an outlier)" : "the median of team \(team)"
        let ratio = e.b > 0 ? AlertText.fixed(e.a / e.b, 1) + "× " + whose : "far above team \(team)"
        return "\(user) used \(AlertText.tokens(e.a)) tokens in \(AlertText.duration(ms: windowMs)), \(ratio) "
            + "(robust z \(AlertText.fixed(e.c, 1))), with \(AlertText.fixed(e.d, 1)) outcomes per 100k tokens "
            + "against \(e.f < 0 ? "everyone's" : "the team's") \(AlertText.fixed(e.e, 1))"
    }
}
