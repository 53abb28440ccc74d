/// Appends compact, deterministic JSON to a byte buffer (fixed key order, fixed number formatting).
public struct JSONWriter: Sendable {
    public var bytes: [UInt8] = []
    private var needsComma = false

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    public mutating func beginObject() { separator(); bytes.append(UInt8(ascii: "{")); needsComma = false }
    /// Continues an object whose first members another writer wrote (the next key gets its comma).
    public mutating func continueObject() { needsComma = true }
    public mutating func endObject() { bytes.append(UInt8(ascii: "}")); needsComma = true }
    public mutating func beginArray() { separator(); bytes.append(UInt8(ascii: "[")); needsComma = false }
    public mutating func endArray() { bytes.append(UInt8(ascii: "]")); needsComma = true }

    public mutating func key(_ k: StaticString) {
        separator()
        bytes.append(UInt8(ascii: "\""))
        appendLiteral(k)
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    /// A key that is not a literal (e.g. a user id as a map key).
    public mutating func rawKey(_ k: String) {
        string(k)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    public mutating func string(_ s: String) {
        separator()
        var s = s
        s.withUTF8 { appendEscaped(UnsafeRawBufferPointer($0)) }
        needsComma = true
    }

    public mutating func string<C: Collection>(bytes raw: C) where C.Element == UInt8 {
        separator()
        Array(raw).withUnsafeBytes { appendEscaped($0) }
        needsComma = true
    }

    public mutating func int(_ v: Int64) {
        separator()
        appendInt(v)
        needsComma = true
    }

    public mutating func int(_ v: Int) { int(Int64(v)) }

    public mutating func bool(_ v: Bool) {
        separator()
        appendLiteral(v ? "true" : "false")
        needsComma = true
    }

    public mutating func null() {
        separator()
        appendLiteral("null")
        needsComma = true
    }

    /// A decimal rounded to `decimals` places, trailing zeros trimmed (`0.8120` → `0.812`, `1.0` → `1`).
    public mutating func decimal(_ v: Double, decimals: Int = 4) {
        separator()
        Self.appendDecimal(v, decimals: decimals, to: &bytes)
        needsComma = true
    }

    /// Raw, already-encoded JSON (for nesting pre-built values).
    public mutating func raw(_ json: [UInt8]) {
        separator()
        bytes.append(contentsOf: json)
        needsComma = true
    }

    public static func formatDecimal(_ v: Double, decimals: Int) -> String {
        var text: [UInt8] = []
        appendDecimal(v, decimals: decimals, to: &text)
        return String(decoding: text, as: UTF8.self)
    }

    /// Appends `formatDecimal`'s text byte by byte: boards write several decimals per entry, and building
    /// them as strings (then trimming the zeros) was a tenth of the snapshot's instructions.
    static func appendDecimal(_ v: Double, decimals: Int, to out: inout [UInt8]) {
        guard v.isFinite else { out.append(UInt8(ascii: "0")); return }
        let places = min(max(decimals, 0), 18)
        var scale: Int64 = 1
        for _ in 0..<places { scale *= 10 }
        let scaled = (v * Double(scale)).rounded()
        guard abs(scaled) < 9.0e18 else {
            // Too large for the fixed-point path: whole, or in Swift's shortest form (valid JSON) past Int64.
            if abs(v) < 9.2e18 { appendInteger(Int64(v.rounded()), to: &out) } else { out.append(contentsOf: v.description.utf8) }
            return
        }
        var n = Int64(scaled)
        if n < 0 { out.append(UInt8(ascii: "-")); n = -n }
        appendInteger(n / scale, to: &out)
        var frac = n % scale
        guard frac != 0 else { return }
        var digits = places
        while frac % 10 == 0 { frac /= 10; digits -= 1 }
        out.append(UInt8(ascii: "."))
        // Leading zeros of the fraction (0.05 at 4 places: frac 5 of 2 digits → "05").
        var width = 1, t = frac
        while t >= 10 { t /= 10; width += 1 }
        for _ in width..<digits { out.append(UInt8(ascii: "0")) }
        appendInteger(frac, to: &out)
    }

    private static func appendInteger(_ v: Int64, to out: inout [UInt8]) {
        if v < 0 { out.append(UInt8(ascii: "-")) }
        var x = v.magnitude
        if x < 10 { out.append(48 + UInt8(x)); return }
        // Two digits per division, written from the end of a 20-byte scratch.
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { d in
            var i = 20
            while x >= 100 {
                let pair = Int(x % 100) * 2
                x /= 100
                i -= 2
                d[i] = Self.digitPairs[pair]
                d[i + 1] = Self.digitPairs[pair + 1]
            }
            if x >= 10 {
                i -= 2
                d[i] = Self.digitPairs[Int(x) * 2]
                d[i + 1] = Self.digitPairs[Int(x) * 2 + 1]
            } else {
                i -= 1
                d[i] = 48 + UInt8(x)
            }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: d[i..<20]))
        }
    }

    /// "00" to "99", two ASCII bytes each.
    private static let digitPairs: [UInt8] = {
        var pairs: [UInt8] = []
        for n in 0..<100 {
            let tens = UInt8(n / 10), ones = UInt8(n % 10)
            pairs.append(48 + tens)
            pairs.append(48 + ones)
        }
        return pairs
    }()

    private mutating func appendLiteral(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    @inline(__always) private mutating func separator() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    private mutating func appendInt(_ v: Int64) { Self.appendInteger(v, to: &bytes) }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private mutating func appendEscaped(_ s: UnsafeRawBufferPointer) {
        bytes.append(UInt8(ascii: "\""))
        // Runs that need no escaping (nearly every id and name) are appended whole.
        var runStart = 0
        for (i, c) in s.enumerated() where c < 0x20 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") {
            if i > runStart { bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: s[runStart..<i])) }
            runStart = i + 1
            switch c {
            case UInt8(ascii: "\""): bytes.append(92); bytes.append(34)
            case UInt8(ascii: "\\"): bytes.append(92); bytes.append(92)
            case 0x0A: bytes.append(92); bytes.append(UInt8(ascii: "n"))
            case 0x0D: bytes.append(92); bytes.append(UInt8(ascii: "r"))
            case 0x09: bytes.append(92); bytes.append(UInt8(ascii: "t"))
            default:
                bytes.append(contentsOf: [92, UInt8(ascii: "u"), 48, 48, Self.hex[Int(c >> 4)], Self.hex[Int(c & 15)]])
            }
        }
        if runStart < s.count { bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: s[runStart...])) }
        bytes.append(UInt8(ascii: "\""))
    }
}

/// Standard base64 (RFC 4648) for dead-letter payloads.
public enum Base64 {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func encode(_ data: UnsafeRawBufferPointer) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity((data.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= data.count {
            let n = UInt32(data[i]) << 16 | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2])
            out.append(alphabet[Int(n >> 18)]); out.append(alphabet[Int((n >> 12) & 63)])
            out.append(alphabet[Int((n >> 6) & 63)]); out.append(alphabet[Int(n & 63)])
            i += 3
        }
        let rest = data.count - i
        if rest == 1 {
            let n = UInt32(data[i]) << 16
            out.append(alphabet[Int(n >> 18)]); out.append(alphabet[Int((n >> 12) & 63)])
            out.append(contentsOf: [61, 61])
        } else if rest == 2 {
            let n = UInt32(data[i]) << 16 | UInt32(data[i + 1]) << 8
            out.append(alphabet[Int(n >> 18)]); out.append(alphabet[Int((n >> 12) & 63)])
            out.append(alphabet[Int((n >> 6) & 63)]); out.append(61)
        }
        return out
    }
}
