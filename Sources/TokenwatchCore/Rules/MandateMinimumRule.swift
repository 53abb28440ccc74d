/// `mandate_minimum` (info by default): active in the leaderboard week, but only trivially — a
/// handful of tiny requests that count towards an adoption mandate. Evaluated once per cutoff.
/// Users it flags do not count in `effective_active_ratio`.
///
/// "Trivially" is measured against the distribution of real users too: with at least `min_users` active
/// in the week (every shard's users, through `PeerReference`), a user whose requests and tokens both stay
/// within `relative_share` of the week's medians is trivially active — so doing a little more than the
/// fixed thresholds (threshold-hugging) still counts as padding, wherever the organisation's usage lies.
///
/// And at the level of the organisation (`Bunching`): when many users' weeks sit just above the minimum
/// — more than the next band up holds, on a log scale where a natural spread of light users is about
/// even — the users in that band are trivially active too, and their alerts say so with the figures.
struct MandateMinimumRule: Sendable {
    static let defaults: [String: Double] = [
        "max_requests": 3,
        "max_tokens": 3_000,
        "relative_share": 0.05,
        "min_users": 20,
        "bunching_band": 5,
        "bunching_min_users": 5,
        "bunching_ratio": 2,
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
    /// "Just above" is up to this multiple of `max_requests` and `max_tokens`; the next band up reaches
    /// its square (0: no bunching check).
    var bunchingBand: Double
    /// Users just above needed before bunching counts ...
    var bunchingMinUsers: Int
    /// ... and how many times the next band's count they must reach.
    var bunchingRatio: Double

    init(_ p: RuleParameters) {
        let d = Self.defaults
        enabled = p.enabled
        maxRequests = UInt32(clamping: Int64(p.value("max_requests", d)))
        maxTokens = Int64(p.value("max_tokens", d))
        relativeShare = max(0, p.value("relative_share", d))
        minUsers = Int(p.value("min_users", d))
        bunchingBand = p.value("bunching_band", d)
        bunchingMinUsers = max(1, Int(p.value("bunching_min_users", d)))
        bunchingRatio = p.value("bunching_ratio", d)
    }

    /// The organisation's weeks near the minimum: how many users sit just above it and how many in the
    /// next band up. Found once per week, from every shard's users (`PeerReference.week`).
    struct Bunching: Sendable, Equatable {
        var justAbove = 0
        var nextBand = 0
    }

    /// Which band a week of `events` requests and `tokens` tokens is in: 0 at or below the minimum,
    /// 1 just above it, 2 the next band up, 3 beyond.
    func band(events: Double, tokens: Double) -> Int {
        let requests = Double(maxRequests), most = Double(maxTokens)
        if events <= requests && tokens <= most { return 0 }
        if events <= bunchingBand * requests && tokens <= bunchingBand * most { return 1 }
        let outer = bunchingBand * bunchingBand
        return events <= outer * requests && tokens <= outer * most ? 2 : 3
    }

    /// The bunching just above the minimum, when there is some: at least `bunching_min_users` users just
    /// above, and `bunching_ratio` times as many as in the next band up (nil when off or not found).
    func bunching(_ reference: PeerReference?) -> Bunching? {
        guard let r = reference, bunchingBand > 1, r.weekUsers >= minUsers else { return nil }
        var b = Bunching()
        for m in r.week {
            switch band(events: Double(m.events), tokens: Double(m.tokens)) {
            case 1: b.justAbove += 1
            case 2: b.nextBand += 1
            default: break
            }
        }
        guard b.justAbove >= bunchingMinUsers, Double(b.justAbove) >= bunchingRatio * Double(max(b.nextBand, 1)) else { return nil }
        return b
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

    func evaluate(_ book: WeekBook, user u: Int, reference: PeerReference? = nil,
                  bunching: Bunching? = nil) -> (score: Double, evidence: Evidence)? {
        let events = book.events[u], tokens = book.tokens[u]
        guard events > 0 else { return nil }
        var limit = limits(reference)
        let trivial = Double(events) <= limit.requests && Double(tokens) <= limit.tokens
        let bunched = bunching != nil && band(events: Double(events), tokens: Double(tokens)) == 1
        guard trivial || bunched else { return nil }
        if bunched && !trivial {  // scored against the band's top instead
            limit = (bunchingBand * Double(maxRequests), bunchingBand * Double(maxTokens), limit.relative)
        }
        var evidence = Evidence(a: Double(events), b: Double(tokens), c: Double(book.outcomes[u]), d: Double(book.cutoff),
                                e: limit.relative && trivial ? limit.requests : 0, f: limit.relative && trivial ? limit.tokens : 0)
        if bunched, let b = bunching {
            evidence.g = Double(b.justAbove)
            evidence.h = Double(b.nextBand)
        }
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
        if e.g > 0 {
            w.key("bunching"); w.beginObject()
            w.key("users_just_above"); w.int(Int64(e.g))
            w.key("users_next_band"); w.int(Int64(e.h))
            w.key("just_above_requests_at_most"); w.decimal(bunchingBand * Double(maxRequests), decimals: 1)
            w.key("just_above_tokens_at_most"); w.int(Int64(bunchingBand * Double(maxTokens)))
            w.endObject()
        }
        w.endObject()
        let against = e.e > 0 ? ", within \(AlertText.percent(relativeShare)) of the typical user's week" : ""
        return "\(user) counted as active in the week to \(AlertText.utc(Int64(e.d))) with only "
            + "\(AlertText.count(e.a, "request", "requests")) (\(AlertText.tokens(e.b)) tokens)\(against)\(bunchingText(e))"
    }

    /// `; one of 31 users bunched just above the minimum (3 requests, 3.0k tokens) where the next band up holds 2`.
    func bunchingText(_ e: Evidence) -> String {
        guard e.g > 0 else { return "" }
        return "; one of \(Int64(e.g)) users bunched just above the activity minimum (\(AlertText.count(Double(maxRequests), "request", "requests")), "
            + "\(AlertText.tokens(Double(maxTokens))) tokens) where the next band up holds \(Int64(e.h))"
    }
}
