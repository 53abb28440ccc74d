/// `peer_outlier`: a user's tokens in the window far above the team's robust spread (median and
/// median absolute deviation), without the outcomes that would match them. Evaluated at snapshot
/// boundaries every `evaluate_every`, over the engine window whose length is `window`.
struct PeerOutlierRule: Sendable {
    static let defaults: [String: Double] = [
        "window": 86_400_000,
        "evaluate_every": 3_600_000,
        "min_tokens": 500_000,
        "min_ratio": 4,
        "mad_factor": 5,
        "yield_ratio": 0.25,
        "min_team_size": 5,
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
    }

    func evaluate(_ peers: PeerGroups, window w: SlidingWindow) -> [PeerFinding] {
        var out: [PeerFinding] = []
        for (team, local) in peers.groups where local.reference.members >= minTeamSize {
            let g = local.reference
            let scale = max(1.4826 * g.mad, 0.05 * g.medianTokens, 1)
            for u in local.members {
                let tokens = Double(w.tokens[Int(u)])
                guard tokens >= minTokens, tokens >= minRatio * g.medianTokens else { continue }
                let z = (tokens - g.medianTokens) / scale
                guard z >= madFactor else { continue }
                let outcomes = Double(w.outcomes[Int(u)])
                let yield = outcomes / tokens
                guard yield < yieldRatio * g.medianYield else { continue }
                let evidence = Evidence(a: tokens, b: g.medianTokens, c: z, d: yield * 100_000,
                                        e: g.medianYield * 100_000, f: Double(g.members))
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
        w.key("team_active_users"); w.int(Int64(e.f))
        w.endObject()
        let ratio = e.b > 0 ? AlertText.fixed(e.a / e.b, 1) + "× the median of team \(team)" : "far above team \(team)"
        return "\(user) used \(AlertText.tokens(e.a)) tokens in \(AlertText.duration(ms: windowMs)), \(ratio) "
            + "(robust z \(AlertText.fixed(e.c, 1))), with \(AlertText.fixed(e.d, 1)) outcomes per 100k tokens "
            + "against the team's \(AlertText.fixed(e.e, 1))"
    }
}
