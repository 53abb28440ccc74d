/// `mandate_minimum` (info by default): active in the leaderboard week, but only trivially — a
/// handful of tiny requests that count towards an adoption mandate. Evaluated once per cutoff.
/// Users it flags do not count in `effective_active_ratio`.
///
/// "Trivially" is measured against the distribution of real users too: with at least `min_users` active
/// in the week (every shard's users, through `PeerReference`), a user whose requests and tokens both stay
/// within `relative_share` of the week's medians is trivially active — so doing a little more than the
/// fixed thresholds (threshold-hugging) still counts as padding, wherever the organisation's usage lies.
struct MandateMinimumRule: Sendable {
    static let defaults: [String: Double] = [
        "max_requests": 3,
        "max_tokens": 3_000,
        "relative_share": 0.05,
        "min_users": 20,
    ]

    var enabled: Bool
    /// At most this many requests in the week ...
    var maxRequests: UInt32
    /// ... and at most this many tokens.
    var maxTokens: Int64
    /// Share of the week's median requests and tokens within which activity is trivial (0: off).
    var relativeShare: Double
    /// Active users in the week needed before the medians are trusted.
    var minUsers: Int

    init(_ p: RuleParameters) {
        let d = Self.defaults
        enabled = p.enabled
        maxRequests = UInt32(clamping: Int64(p.value("max_requests", d)))
        maxTokens = Int64(p.value("max_tokens", d))
        relativeShare = max(0, p.value("relative_share", d))
        minUsers = Int(p.value("min_users", d))
    }

    /// The limits a week's requests and tokens must stay within: the fixed ones, or the share of the
    /// week's medians when that is higher and enough users were active.
    func limits(_ reference: PeerReference?) -> (requests: Double, tokens: Double, relative: Bool) {
        let fixed = (Double(maxRequests), Double(maxTokens))
        guard let r = reference, relativeShare > 0, r.weekUsers >= minUsers else { return (fixed.0, fixed.1, false) }
        let requests = relativeShare * r.weekMedianEvents, tokens = relativeShare * r.weekMedianTokens
        guard requests > fixed.0 || tokens > fixed.1 else { return (fixed.0, fixed.1, false) }
        return (max(fixed.0, requests), max(fixed.1, tokens), true)
    }

    func evaluate(_ book: WeekBook, user u: Int, reference: PeerReference? = nil) -> (score: Double, evidence: Evidence)? {
        let events = book.events[u], tokens = book.tokens[u]
        let limit = limits(reference)
        guard events > 0, Double(events) <= limit.requests, Double(tokens) <= limit.tokens else { return nil }
        let evidence = Evidence(a: Double(events), b: Double(tokens), c: Double(book.outcomes[u]), d: Double(book.cutoff),
                                e: limit.relative ? limit.requests : 0, f: limit.relative ? limit.tokens : 0)
        // Fewer and smaller requests score higher.
        let score = 0.5 + 0.25 * (1 - Double(events - 1) / max(limit.requests, 1))
            + 0.25 * (1 - Double(tokens) / max(limit.tokens, 1))
        return (min(1, max(0.5, score)), evidence)
    }

    func describe(_ e: Evidence, user: String, into w: inout JSONWriter) -> String {
        w.beginObject()
        w.key("cutoff"); w.int(Int64(e.d))
        w.key("requests"); w.int(Int64(e.a))
        w.key("tokens"); w.int(Int64(e.b))
        w.key("outcomes"); w.int(Int64(e.c))
        if e.e > 0 {
            w.key("trivial_requests_at_most"); w.decimal(e.e, decimals: 1)
            w.key("trivial_tokens_at_most"); w.int(Int64(e.f))
        }
        w.endObject()
        let against = e.e > 0 ? ", within \(AlertText.percent(relativeShare)) of the typical user's week" : ""
        return "\(user) counted as active in the week to \(AlertText.utc(Int64(e.d))) with only "
            + "\(AlertText.count(e.a, "request", "requests")) (\(AlertText.tokens(e.b)) tokens)\(against)"
    }
}
