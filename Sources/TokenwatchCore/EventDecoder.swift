/// Where a decoded string lives: in the message itself (no escapes, the common case) or in the
/// decoder's scratch buffer (unescaped copy); `count < 0` means absent.
public struct TextSpan: Sendable, Equatable {
    public var start: Int32
    public var count: Int32
    public var inMessage: Bool = false
    public static let absent = TextSpan(start: 0, count: -1)
    public var isPresent: Bool { count >= 0 }
}

/// One valid usage event as decoded from a message; strings are spans into `EventDecoder`'s scratch buffer.
public struct DecodedEvent: Sendable {
    public var eventId = TextSpan.absent
    public var userId = TextSpan.absent
    public var team = TextSpan.absent
    public var tool = TextSpan.absent
    public var model = TextSpan.absent
    public var kind = TextSpan.absent
    public var source = TextSpan.absent
    public var sessionId = TextSpan.absent
    public var promptHash = TextSpan.absent
    public var ts: Int64 = 0
    public var inputTokens: Int64 = 0
    public var outputTokens: Int64 = 0
    public var cacheReadTokens: Int64 = 0
    public var accepted: Bool? = nil
    public var linesAdded: Int64 = 0
    public var linesRemoved: Int64 = 0
    public var commits: Int64 = 0
    public var prs: Int64 = 0
    /// Whether the event carried an `outcome` object: without one its outcomes are unknown, not zero,
    /// and outcome rules should not compare it.
    public var reportedOutcomes = false
    // Optional fields of the second round (docs/events.md); nil where "not reported" differs from zero.
    public var cacheCreationTokens: Int64 = 0
    public var costMicros: Int64? = nil
    /// `main`, `subagent` or `auxiliary`: who in the tool made the request.
    public var agent = TextSpan.absent
    /// How the tool was started: `cli`, `ide`, `sdk-…`.
    public var entrypoint = TextSpan.absent
    public var humanActiveMs: Int64? = nil
    public var agentActiveMs: Int64? = nil
    /// Edits applied without a person's decision (by configuration or a hook): not evidence of a person's work.
    public var editsAutoApproved: Int64? = nil

    /// `input_tokens + output_tokens`.
    public var tokens: Int64 { inputTokens + outputTokens }
}

/// Strict, byte-level decoder of the input event schema (CONTRACT.md §1).
///
/// It walks the JSON once, copies only the strings it keeps into a reused scratch buffer,
/// and reports the first problem as a `DeadLetterReason`. It never traps on any input.
public struct EventDecoder: Sendable {
    /// Largest count accepted in a token or outcome field.
    public static let maxCount: Int64 = 1_000_000_000
    /// Deepest nesting accepted inside unknown fields.
    public static let maxDepth = 64

    /// Unescaped strings of the last event (only those that contained escapes).
    public private(set) var scratch: [UInt8] = []
    /// The last decoded message; spans with `inMessage` point into it. Valid only while the
    /// caller's buffer lives, which is the whole of `Engine.process`.
    nonisolated(unsafe) private var message = UnsafeRawBufferPointer(start: nil, count: 0)
    public var maxMessageBytes: Int

    public init(maxMessageBytes: Int = 1_048_576) {
        self.maxMessageBytes = maxMessageBytes
        scratch.reserveCapacity(1024)
    }

    /// Calls `body` with the bytes of `span` (empty when absent).
    @inlinable public func withBytes<R>(_ span: TextSpan, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        if span.inMessage && span.count > 0 {
            return try body(UnsafeRawBufferPointer(rebasing: currentMessage[Int(span.start)..<Int(span.start + span.count)]))
        }
        return try scratch.withUnsafeBytes { all in
            if span.count <= 0 { return try body(UnsafeRawBufferPointer(start: all.baseAddress, count: 0)) }
            return try body(UnsafeRawBufferPointer(rebasing: all[Int(span.start)..<Int(span.start + span.count)]))
        }
    }

    @usableFromInline var currentMessage: UnsafeRawBufferPointer { message }

    /// A span holding `bytes`, appended to the scratch buffer (valid until the next `decode`): how a
    /// field is replaced, e.g. an alias in `user_id` by the person the identities file names.
    public mutating func substitute(_ bytes: [UInt8]) -> TextSpan {
        let span = TextSpan(start: Int32(scratch.count), count: Int32(bytes.count))
        scratch.append(contentsOf: bytes)
        return span
    }

    /// The string of `span`, or nil when absent (allocates; not for the hot path).
    public func string(_ span: TextSpan) -> String? {
        guard span.isPresent else { return nil }
        return withBytes(span) { String(decoding: $0, as: UTF8.self) }
    }

    /// Decodes one message.
    public mutating func decode(_ message: UnsafeRawBufferPointer) throws(DeadLetterReason) -> DecodedEvent {
        if message.count > maxMessageBytes { throw .messageTooLarge }
        scratch.removeAll(keepingCapacity: true)
        self.message = message
        guard let base = message.baseAddress, message.count > 0 else { throw .invalidJSON }
        var parser = JSONCursor(base: base.assumingMemoryBound(to: UInt8.self), count: message.count)
        var event = DecodedEvent()
        parser.skipSpace()
        guard parser.peek() == UInt8(ascii: "{") else {
            // Tell "not JSON" from "JSON but not an object".
            do throws(DeadLetterReason) {
                try parser.skipValue(depth: 0, scratch: &scratch)
                parser.skipSpace()
                if !parser.atEnd { throw .invalidJSON }
            } catch { throw .invalidJSON }
            throw .notAnObject
        }
        parser.advance()
        var seen: UInt32 = 0
        parser.skipSpace()
        if parser.peek() == UInt8(ascii: "}") {
            parser.advance()
        } else {
            while true {
                let field = try readMemberName(&parser)
                if let field {
                    let bit: UInt32 = 1 << UInt32(Self.bitIndex(field))
                    if seen & bit != 0 { throw .duplicateField(field) }
                    seen |= bit
                    try readField(field, parser: &parser, event: &event, seen: &seen)
                } else {
                    try parser.skipValue(depth: 1, scratch: &scratch)
                }
                parser.skipSpace()
                let c = parser.peek()
                parser.advance()
                if c == UInt8(ascii: ",") { continue }
                if c == UInt8(ascii: "}") { break }
                throw .invalidJSON
            }
        }
        parser.skipSpace()
        if !parser.atEnd { throw .invalidJSON }
        // The common case checks one mask; only a dead letter looks for which field is missing.
        if seen & Self.requiredMask != Self.requiredMask {
            for field in Self.required where seen & (1 << UInt32(Self.bitIndex(field))) == 0 { throw .missingField(field) }
        }
        return event
    }

    /// The fields every event must carry, in the order a dead letter names the first missing one.
    private static let required: [EventField] = [.eventId, .ts, .userId, .inputTokens, .outputTokens]
    private static let requiredMask: UInt32 = required.reduce(0) { $0 | 1 << UInt32(bitIndex($1)) }

    private static func bitIndex(_ f: EventField) -> Int {
        switch f {
        case .eventId: 0
        case .ts: 1
        case .userId: 2
        case .team: 3
        case .tool: 4
        case .model: 5
        case .kind: 6
        case .source: 7
        case .sessionId: 8
        case .promptHash: 9
        case .inputTokens: 10
        case .outputTokens: 11
        case .cacheReadTokens: 12
        case .outcome: 13
        case .outcomeAccepted: 14
        case .outcomeLinesAdded: 15
        case .outcomeLinesRemoved: 16
        case .outcomeCommits: 17
        case .outcomePRs: 18
        case .cacheCreationTokens: 19
        case .costMicros: 20
        case .agent: 21
        case .entrypoint: 22
        case .humanActiveMs: 23
        case .agentActiveMs: 24
        case .editsAutoApproved: 25
        }
    }

    /// Reads `"name":` of an object member, leaving the cursor on its value; names the field (nil when unknown).
    private mutating func readMemberName(_ parser: inout JSONCursor) throws(DeadLetterReason) -> EventField? {
        parser.skipSpace()
        guard parser.peek() == UInt8(ascii: "\"") else { throw .invalidJSON }
        let field = try readKey(&parser)
        parser.skipSpace()
        guard parser.peek() == UInt8(ascii: ":") else { throw .invalidJSON }
        parser.advance()
        parser.skipSpace()
        return field
    }

    /// Reads an object key and names the field it is (nil for keys we do not know).
    private mutating func readKey(_ parser: inout JSONCursor) throws(DeadLetterReason) -> EventField? {
        let span = try parser.readSpan(scratch: &scratch)
        let field = withBytes(span) { Self.topLevelField($0) }
        if !span.inMessage { scratch.removeSubrange(Int(span.start)...) }
        return field
    }

    /// Matches a key without allocating a String.
    private static func topLevelField(_ buf: UnsafeRawBufferPointer) -> EventField? {
        let n = buf.count
        @inline(__always) func eq(_ s: StaticString) -> Bool {
            guard s.utf8CodeUnitCount == n else { return false }
            let p = s.utf8Start
            for i in 0..<n where buf[i] != p[i] { return false }
            return true
        }
        switch n {
        case 2: return eq("ts") ? .ts : nil
        case 3: return eq("prs") ? .outcomePRs : nil
        case 4: return eq("team") ? .team : eq("tool") ? .tool : eq("kind") ? .kind : nil
        case 5: return eq("model") ? .model : eq("agent") ? .agent : nil
        case 6: return eq("source") ? .source : nil
        case 7: return eq("user_id") ? .userId : eq("outcome") ? .outcome : eq("commits") ? .outcomeCommits : nil
        case 8: return eq("event_id") ? .eventId : eq("accepted") ? .outcomeAccepted : nil
        case 10: return eq("session_id") ? .sessionId : eq("entrypoint") ? .entrypoint : nil
        case 11: return eq("prompt_hash") ? .promptHash : eq("lines_added") ? .outcomeLinesAdded : eq("cost_micros") ? .costMicros : nil
        case 12: return eq("input_tokens") ? .inputTokens : nil
        case 13: return eq("output_tokens") ? .outputTokens : eq("lines_removed") ? .outcomeLinesRemoved : nil
        case 15: return eq("human_active_ms") ? .humanActiveMs : eq("agent_active_ms") ? .agentActiveMs : nil
        case 17: return eq("cache_read_tokens") ? .cacheReadTokens : nil
        case 19: return eq("edits_auto_approved") ? .editsAutoApproved : nil
        case 21: return eq("cache_creation_tokens") ? .cacheCreationTokens : nil
        default: return nil
        }
    }

    private mutating func readField(_ field: EventField, parser: inout JSONCursor, event: inout DecodedEvent, seen: inout UInt32) throws(DeadLetterReason) {
        switch field {
        case .eventId: event.eventId = try readString(field, &parser, required: true)
        case .userId: event.userId = try readString(field, &parser, required: true)
        case .team: event.team = try readString(field, &parser, required: false)
        case .tool: event.tool = try readString(field, &parser, required: false)
        case .model: event.model = try readString(field, &parser, required: false)
        case .kind: event.kind = try readString(field, &parser, required: false)
        case .source: event.source = try readString(field, &parser, required: false)
        case .sessionId: event.sessionId = try readString(field, &parser, required: false)
        case .promptHash: event.promptHash = try readString(field, &parser, required: false)
        case .ts: event.ts = try readTimestamp(&parser)
        case .inputTokens: event.inputTokens = try readCount(field, &parser, required: true) ?? 0
        case .outputTokens: event.outputTokens = try readCount(field, &parser, required: true) ?? 0
        case .cacheReadTokens: event.cacheReadTokens = try readCount(field, &parser, required: false) ?? 0
        case .outcome: try readOutcome(&parser, event: &event)
        case .cacheCreationTokens, .costMicros, .agent, .entrypoint, .humanActiveMs, .agentActiveMs, .editsAutoApproved:
            try readOptionalField(field, parser: &parser, event: &event)
        default:
            // Outcome sub-keys at the top level are unknown fields there.
            seen &= ~(1 << UInt32(Self.bitIndex(field)))
            try parser.skipValue(depth: 1, scratch: &scratch)
        }
    }

    /// The optional fields of the second round; each absent, null or valid, else a dead letter like any field.
    private mutating func readOptionalField(_ field: EventField, parser: inout JSONCursor, event: inout DecodedEvent) throws(DeadLetterReason) {
        switch field {
        case .cacheCreationTokens: event.cacheCreationTokens = try readCount(field, &parser, required: false) ?? 0
        case .costMicros: event.costMicros = try readCount(field, &parser, required: false)
        case .agent: event.agent = try readString(field, &parser, required: false)
        case .entrypoint: event.entrypoint = try readString(field, &parser, required: false)
        case .humanActiveMs: event.humanActiveMs = try readCount(field, &parser, required: false)
        case .agentActiveMs: event.agentActiveMs = try readCount(field, &parser, required: false)
        case .editsAutoApproved: event.editsAutoApproved = try readCount(field, &parser, required: false)
        default: try parser.skipValue(depth: 1, scratch: &scratch)
        }
    }

    private mutating func readString(_ field: EventField, _ parser: inout JSONCursor, required: Bool) throws(DeadLetterReason) -> TextSpan {
        let c = parser.peek()
        if c == UInt8(ascii: "n") {
            try parser.expectLiteral("null")
            if required { throw .missingField(field) }
            return .absent
        }
        guard c == UInt8(ascii: "\"") else {
            try parser.skipValue(depth: 1, scratch: &scratch)
            throw .wrongType(field)
        }
        let span = try parser.readSpan(scratch: &scratch)
        if Int(span.count) > field.maxBytes { throw .tooLong(field) }
        if span.count == 0 {
            if required { throw .empty(field) }
            return .absent
        }
        return span
    }

    private mutating func readCount(_ field: EventField, _ parser: inout JSONCursor, required: Bool) throws(DeadLetterReason) -> Int64? {
        let c = parser.peek()
        if c == UInt8(ascii: "n") {
            try parser.expectLiteral("null")
            if required { throw .missingField(field) }
            return nil
        }
        guard c == UInt8(ascii: "-") || (c >= 48 && c <= 57) else {
            try parser.skipValue(depth: 1, scratch: &scratch)
            throw .wrongType(field)
        }
        let n = try parser.readInteger(field)
        if n < 0 || n > Self.maxCount { throw .outOfRange(field) }
        return n
    }

    private mutating func readTimestamp(_ parser: inout JSONCursor) throws(DeadLetterReason) -> Int64 {
        let c = parser.peek()
        if c == UInt8(ascii: "\"") {
            let span = try parser.readSpan(scratch: &scratch)
            guard let ms = withBytes(span, { RFC3339.parse($0) }) else { throw .invalidTimestamp }
            if ms < 0 || ms > RFC3339.maxMillis { throw .outOfRange(.ts) }
            return ms
        }
        if c == UInt8(ascii: "n") {
            try parser.expectLiteral("null")
            throw .missingField(.ts)
        }
        guard c == UInt8(ascii: "-") || (c >= 48 && c <= 57) else {
            try parser.skipValue(depth: 1, scratch: &scratch)
            throw .wrongType(.ts)
        }
        let ms = try parser.readInteger(.ts)
        if ms < 0 || ms > RFC3339.maxMillis { throw .outOfRange(.ts) }
        return ms
    }

    private mutating func readOutcome(_ parser: inout JSONCursor, event: inout DecodedEvent) throws(DeadLetterReason) {
        let c = parser.peek()
        if c == UInt8(ascii: "n") {
            try parser.expectLiteral("null")
            return
        }
        guard c == UInt8(ascii: "{") else {
            try parser.skipValue(depth: 1, scratch: &scratch)
            throw .wrongType(.outcome)
        }
        parser.advance()
        parser.skipSpace()
        if parser.peek() == UInt8(ascii: "}") { parser.advance(); return }
        var seen: UInt32 = 0
        while true {
            let field = try readMemberName(&parser)
            switch field {
            case .outcomeAccepted, .outcomeLinesAdded, .outcomeLinesRemoved, .outcomeCommits, .outcomePRs:
                let f = field!
                let bit: UInt32 = 1 << UInt32(Self.bitIndex(f))
                if seen & bit != 0 { throw .duplicateField(f) }
                seen |= bit
                event.reportedOutcomes = true
                if f == .outcomeAccepted {
                    let b = parser.peek()
                    if b == UInt8(ascii: "t") { try parser.expectLiteral("true"); event.accepted = true }
                    else if b == UInt8(ascii: "f") { try parser.expectLiteral("false"); event.accepted = false }
                    else if b == UInt8(ascii: "n") { try parser.expectLiteral("null") }
                    else { try parser.skipValue(depth: 2, scratch: &scratch); throw .wrongType(f) }
                } else {
                    let v = try readCount(f, &parser, required: false) ?? 0
                    switch f {
                    case .outcomeLinesAdded: event.linesAdded = v
                    case .outcomeLinesRemoved: event.linesRemoved = v
                    case .outcomeCommits: event.commits = v
                    default: event.prs = v
                    }
                }
            default:
                try parser.skipValue(depth: 2, scratch: &scratch)
            }
            parser.skipSpace()
            let d = parser.peek()
            parser.advance()
            if d == UInt8(ascii: ",") { continue }
            if d == UInt8(ascii: "}") { return }
            throw .invalidJSON
        }
    }
}

/// A read position in a JSON message; every read is bounds-checked.
struct JSONCursor {
    let base: UnsafePointer<UInt8>
    let count: Int
    var i = 0

    init(base: UnsafePointer<UInt8>, count: Int) {
        self.base = base
        self.count = count
    }

    var atEnd: Bool { i >= count }

    /// The current byte, or 0 at the end (0 is never valid JSON outside strings).
    @inline(__always) func peek() -> UInt8 { i < count ? base[i] : 0 }
    @inline(__always) mutating func advance() { i += 1 }

    @inline(__always) mutating func skipSpace() {
        while i < count {
            let c = base[i]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 } else { return }
        }
    }

    mutating func expectLiteral(_ s: StaticString) throws(DeadLetterReason) {
        let n = s.utf8CodeUnitCount
        guard i + n <= count else { throw .invalidJSON }
        let p = s.utf8Start
        for k in 0..<n where base[i + k] != p[k] { throw .invalidJSON }
        i += n
    }

    /// Reads an integer; fractions or exponents are `notInteger`, overflow `outOfRange`.
    mutating func readInteger(_ field: EventField) throws(DeadLetterReason) -> Int64 {
        var negative = false
        if peek() == UInt8(ascii: "-") { negative = true; i += 1 }
        let digitsStart = i
        var value: Int64 = 0
        var overflow = false
        while i < count, base[i] >= 48, base[i] <= 57 {
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(Int64(base[i] - 48))
            overflow = overflow || o1 || o2
            value = s
            i += 1
        }
        let digits = i - digitsStart
        if digits == 0 { throw .invalidJSON }
        if digits > 1 && base[digitsStart] == 48 { throw .invalidJSON }
        var fractional = false
        if peek() == UInt8(ascii: ".") {
            i += 1
            let f = i
            while i < count, base[i] >= 48, base[i] <= 57 { i += 1 }
            if i == f { throw .invalidJSON }
            fractional = true
        }
        let e = peek()
        if e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
            i += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { i += 1 }
            let f = i
            while i < count, base[i] >= 48, base[i] <= 57 { i += 1 }
            if i == f { throw .invalidJSON }
            fractional = true
        }
        if negative && (value != 0 || fractional) { throw .outOfRange(field) }
        if fractional { throw .notInteger(field) }
        if overflow { throw .outOfRange(field) }
        return value
    }

    /// Reads a string (cursor on the opening quote) without copying when it has no escapes;
    /// otherwise its unescaped bytes are appended to `scratch`.
    mutating func readSpan(scratch: inout [UInt8]) throws(DeadLetterReason) -> TextSpan {
        i += 1
        let s = i
        skipPlainASCII()
        while i < count {
            let c = base[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                return TextSpan(start: Int32(s), count: Int32(i - 1 - s), inMessage: true)
            }
            if c == UInt8(ascii: "\\") { break }
            if c < 0x20 { throw .invalidJSON }
            if c < 0x80 { i += 1; continue }
            try skipUTF8Sequence()
        }
        guard i < count else { throw .invalidJSON }
        // Escapes: decode the whole string into scratch.
        i = s
        let start = scratch.count
        try continueString(into: &scratch)
        return TextSpan(start: Int32(start), count: Int32(scratch.count - start))
    }

    /// Moves over string bytes that need no attention (printable ASCII other than `"` and `\\`) eight at
    /// a time; stops at the first word holding anything else, which the byte loop then reads.
    @inline(__always) mutating func skipPlainASCII() {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        let quotes = ones &* UInt64(UInt8(ascii: "\"")), backslashes = ones &* UInt64(UInt8(ascii: "\\"))
        while i + 8 <= count {
            let v = UInt64(littleEndian: UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self))
            // Each term is non-zero when some byte is: below 0x20, a quote, a backslash, or 0x80 and above
            // (the classic "has zero byte" test; it may report a clean word, never miss a byte).
            let control = (v &- ones &* 0x20) & ~v & highs
            let quote = ((v ^ quotes) &- ones) & ~(v ^ quotes) & highs
            let backslash = ((v ^ backslashes) &- ones) & ~(v ^ backslashes) & highs
            if (control | quote | backslash | (v & highs)) != 0 { return }
            i += 8
        }
    }

    /// Reads a string (cursor on the opening quote), appending its decoded UTF-8 to `out`.
    mutating func readString(into out: inout [UInt8]) throws(DeadLetterReason) {
        i += 1
        try continueString(into: &out)
    }

    private mutating func continueString(into out: inout [UInt8]) throws(DeadLetterReason) {
        var runStart = i
        while true {
            guard i < count else { throw .invalidJSON }
            let c = base[i]
            if c == UInt8(ascii: "\"") {
                append(runStart, i, &out)
                i += 1
                return
            }
            if c == UInt8(ascii: "\\") {
                append(runStart, i, &out)
                i += 1
                try readEscape(into: &out)
                runStart = i
                continue
            }
            if c < 0x20 { throw .invalidJSON }
            if c < 0x80 { i += 1; continue }
            try skipUTF8Sequence()
        }
    }

    @inline(__always) private func append(_ from: Int, _ to: Int, _ out: inout [UInt8]) {
        if to > from { out.append(contentsOf: UnsafeBufferPointer(start: base + from, count: to - from)) }
    }

    /// Validates one multi-byte UTF-8 sequence starting at `i` (RFC 3629: no overlongs, no surrogates).
    private mutating func skipUTF8Sequence() throws(DeadLetterReason) {
        let c = base[i]
        let need: Int
        var lo: UInt8 = 0x80, hi: UInt8 = 0xBF
        switch c {
        case 0xC2...0xDF: need = 1
        case 0xE0: need = 2; lo = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: need = 2
        case 0xED: need = 2; hi = 0x9F
        case 0xF0: need = 3; lo = 0x90
        case 0xF1...0xF3: need = 3
        case 0xF4: need = 3; hi = 0x8F
        default: throw .invalidUTF8
        }
        guard i + need < count else { throw .invalidUTF8 }
        let b1 = base[i + 1]
        if b1 < lo || b1 > hi { throw .invalidUTF8 }
        if need >= 2 { let b = base[i + 2]; if b < 0x80 || b > 0xBF { throw .invalidUTF8 } }
        if need == 3 { let b = base[i + 3]; if b < 0x80 || b > 0xBF { throw .invalidUTF8 } }
        i += need + 1
    }

    private mutating func readEscape(into out: inout [UInt8]) throws(DeadLetterReason) {
        guard i < count else { throw .invalidJSON }
        let c = base[i]
        i += 1
        switch c {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(c)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try readHex4()
            if scalar >= 0xD800 && scalar <= 0xDBFF {
                guard i + 1 < count, base[i] == UInt8(ascii: "\\"), base[i + 1] == UInt8(ascii: "u") else { throw .invalidUTF8 }
                i += 2
                let low = try readHex4()
                guard low >= 0xDC00 && low <= 0xDFFF else { throw .invalidUTF8 }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if scalar >= 0xDC00 && scalar <= 0xDFFF {
                throw .invalidUTF8
            }
            Self.appendUTF8(scalar, &out)
        default: throw .invalidJSON
        }
    }

    private mutating func readHex4() throws(DeadLetterReason) -> UInt32 {
        guard i + 4 <= count else { throw .invalidJSON }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let c = base[i]
            let d: UInt32
            switch c {
            case 48...57: d = UInt32(c - 48)
            case 65...70: d = UInt32(c - 55)
            case 97...102: d = UInt32(c - 87)
            default: throw .invalidJSON
            }
            v = v << 4 | d
            i += 1
        }
        return v
    }

    static func appendUTF8(_ s: UInt32, _ out: inout [UInt8]) {
        switch s {
        case 0..<0x80: out.append(UInt8(s))
        case 0x80..<0x800:
            out.append(UInt8(0xC0 | (s >> 6)))
            out.append(UInt8(0x80 | (s & 0x3F)))
        case 0x800..<0x10000:
            out.append(UInt8(0xE0 | (s >> 12)))
            out.append(UInt8(0x80 | ((s >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (s & 0x3F)))
        default:
            out.append(UInt8(0xF0 | (s >> 18)))
            out.append(UInt8(0x80 | ((s >> 12) & 0x3F)))
            out.append(UInt8(0x80 | ((s >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (s & 0x3F)))
        }
    }

    /// Skips any JSON value, validating it; strings are decoded into `scratch` and dropped.
    mutating func skipValue(depth: Int, scratch: inout [UInt8]) throws(DeadLetterReason) {
        if depth > EventDecoder.maxDepth { throw .invalidJSON }
        skipSpace()
        let c = peek()
        switch c {
        case UInt8(ascii: "\""):
            let span = try readSpan(scratch: &scratch)
            if !span.inMessage { scratch.removeSubrange(Int(span.start)...) }
        case UInt8(ascii: "{"):
            i += 1
            skipSpace()
            if peek() == UInt8(ascii: "}") { i += 1; return }
            while true {
                skipSpace()
                guard peek() == UInt8(ascii: "\"") else { throw .invalidJSON }
                let span = try readSpan(scratch: &scratch)
                if !span.inMessage { scratch.removeSubrange(Int(span.start)...) }
                skipSpace()
                guard peek() == UInt8(ascii: ":") else { throw .invalidJSON }
                i += 1
                try skipValue(depth: depth + 1, scratch: &scratch)
                skipSpace()
                let d = peek()
                i += 1
                if d == UInt8(ascii: ",") { continue }
                if d == UInt8(ascii: "}") { return }
                throw .invalidJSON
            }
        case UInt8(ascii: "["):
            i += 1
            skipSpace()
            if peek() == UInt8(ascii: "]") { i += 1; return }
            while true {
                try skipValue(depth: depth + 1, scratch: &scratch)
                skipSpace()
                let d = peek()
                i += 1
                if d == UInt8(ascii: ",") { continue }
                if d == UInt8(ascii: "]") { return }
                throw .invalidJSON
            }
        case UInt8(ascii: "t"): try expectLiteral("true")
        case UInt8(ascii: "f"): try expectLiteral("false")
        case UInt8(ascii: "n"): try expectLiteral("null")
        case UInt8(ascii: "-"), 48...57:
            do throws(DeadLetterReason) { _ = try readInteger(.ts) } catch {
                if error == .invalidJSON { throw error }
            }
        default: throw .invalidJSON
        }
    }
}
