/// `duplicate_prompts`: a large share of the user's recent requests repeat a recent request: the same
/// `prompt_hash`, or — paraphrasing, which changes the hash — the same context again: input tokens within
/// `size_tolerance` of one of the last four requests (a re-asked question over the same code differs by
/// a few words; people's next requests vary far more).
///
/// State per user: the 16 most recently used prompt fingerprints (16-bit, most recent first, so a
/// prompt in use stays in the set), the last four input sizes, and a 64-bit mask saying which of the
/// last 64 hashed requests were repeats. No allocation, constant work per event.
struct DuplicatePromptsRule: Sendable {
    static let defaults: [String: Double] = [
        "min_share": 0.3,
        "min_requests": 32,
        "size_tolerance": 0.005,
        "min_size": 500,
    ]
    /// Prompt fingerprints remembered per user.
    static let recent = 16

    var enabled: Bool
    /// Share of the last (up to 64) hashed requests that repeat a recent prompt.
    var minShare: Double
    /// Hashed requests seen before it can fire (at most 64).
    var minRequests: UInt8
    /// Relative difference of input tokens at or below which a request repeats the same context (0: off).
    var sizeTolerance: Double
    /// Requests with fewer input tokens are never size repeats (small sizes collide by chance).
    var minSize: UInt32

    init(_ p: RuleParameters) {
        let d = Self.defaults
        enabled = p.enabled
        minShare = p.value("min_share", d)
        minRequests = UInt8(clamping: Int64(min(64, max(1, p.value("min_requests", d)))))
        sizeTolerance = max(0, p.value("size_tolerance", d))
        minSize = UInt32(clamping: Int64(p.value("min_size", d)))
    }

    /// Whether `size` is within the tolerance of one of the user's last four sizes; then records it.
    @inline(__always) func sameContext(_ s: inout UserSignals, size: UInt32) -> Bool {
        let recent = s.sizes
        s.sizes = SIMD4(size, recent[0], recent[1], recent[2])
        guard sizeTolerance > 0, size >= minSize else { return false }
        let slack = UInt32(clamping: Int64(Double(size) * sizeTolerance))
        let low = SIMD4<UInt32>(repeating: size &- min(slack, size)), high = SIMD4<UInt32>(repeating: size &+ slack)
        return any((recent .>= low) .& (recent .<= high))
    }

    /// The 16-bit fingerprint of a prompt hash; never 0 (0 marks an empty slot).
    @inline(__always) static func fingerprint(_ bytes: UnsafeRawBufferPointer) -> UInt16 {
        let h = UInt16(truncatingIfNeeded: ByteHash.hash(bytes, seed: 0x5eed_d0b1) >> 17)
        return h == 0 ? 1 : h
    }

    /// Records a request with prompt fingerprint `fp` in the user's ring (`ring` holds `recent` slots
    /// from `base`) and evaluates the share of repeats.
    @inline(__always) func observe(_ s: inout UserSignals, ring: UnsafeMutablePointer<UInt16>, fp: UInt16, size: UInt32) -> (score: Double, evidence: Evidence)? {
        let paraphrase = sameContext(&s, size: size)
        var hit = -1
        for i in 0..<Self.recent where ring[i] == fp { hit = i; break }
        // Move to front: the slot it was in (or the least recent one) makes room.
        var i = hit >= 0 ? hit : Self.recent - 1
        while i > 0 { ring[i] = ring[i - 1]; i -= 1 }
        ring[0] = fp
        s.repeats = s.repeats << 1 | (hit >= 0 || paraphrase ? 1 : 0)
        if s.hashed < 64 { s.hashed += 1 }
        guard s.hashed >= minRequests else { return nil }
        let n = Int(s.hashed)
        let mask: UInt64 = n >= 64 ? ~0 : (1 << UInt64(n)) - 1
        let repeats = (s.repeats & mask).nonzeroBitCount
        let share = Double(repeats) / Double(n)
        guard share >= minShare else { return nil }
        var distinct = 0
        for j in 0..<Self.recent where ring[j] != 0 { distinct += 1 }
        let evidence = Evidence(a: Double(repeats), b: Double(n), c: share, d: Double(distinct), e: 0, f: 0)
        return (exceedScore(share, over: minShare), evidence)
    }

    static func describe(_ e: Evidence, user: String, into w: inout JSONWriter) -> String {
        w.beginObject()
        w.key("repeated_requests"); w.int(Int64(e.a))
        w.key("requests"); w.int(Int64(e.b))
        w.key("share"); w.decimal(e.c, decimals: 4)
        w.key("distinct_recent_prompts"); w.int(Int64(e.d))
        w.endObject()
        return "\(user) re-sent a recent prompt or context in \(Int64(e.a)) of their last \(Int64(e.b)) requests (\(AlertText.percent(e.c)))"
    }
}
