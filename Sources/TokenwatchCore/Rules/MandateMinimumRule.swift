/// `mandate_minimum` (info by default): active in the leaderboard week, but only trivially — a
/// handful of tiny requests that count towards an adoption mandate. Evaluated once per cutoff.
/// Users it flags do not count in `effective_active_ratio`.
struct MandateMinimumRule: Sendable {
    static let defaults: [String: Double] = [
        "max_requests": 3,
        "max_tokens": 3_000,
    ]

    var enabled: Bool
    /// At most this many requests in the week ...
    var maxRequests: UInt32
    /// ... and at most this many tokens.
    var maxTokens: Int64

    init(_ p: RuleParameters) {
        let d = Self.defaults
        enabled = p.enabled
        maxRequests = UInt32(clamping: Int64(p.value("max_requests", d)))
        maxTokens = Int64(p.value("max_tokens", d))
    }

    func evaluate(_ book: WeekBook, user u: Int) -> (score: Double, evidence: Evidence)? {
        let events = book.events[u], tokens = book.tokens[u]
        guard events > 0, events <= maxRequests, tokens <= maxTokens else { return nil }
        let evidence = Evidence(a: Double(events), b: Double(tokens), c: Double(book.outcomes[u]), d: Double(book.cutoff))
        // Fewer and smaller requests score higher.
        let score = 0.5 + 0.25 * (1 - Double(events - 1) / Double(max(maxRequests, 1)))
            + 0.25 * (1 - Double(tokens) / Double(max(maxTokens, 1)))
        return (min(1, max(0.5, score)), evidence)
    }

    static func describe(_ e: Evidence, user: String, into w: inout JSONWriter) -> String {
        w.beginObject()
        w.key("cutoff"); w.int(Int64(e.d))
        w.key("requests"); w.int(Int64(e.a))
        w.key("tokens"); w.int(Int64(e.b))
        w.key("outcomes"); w.int(Int64(e.c))
        w.endObject()
        return "\(user) counted as active in the week to \(AlertText.utc(Int64(e.d))) with only "
            + "\(AlertText.count(e.a, "request", "requests")) (\(AlertText.tokens(e.b)) tokens)"
    }
}
