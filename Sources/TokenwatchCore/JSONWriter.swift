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
        bytes.append(contentsOf: UnsafeBufferPointer(start: k.utf8Start, count: k.utf8CodeUnitCount))
        bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
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
        bytes.append(contentsOf: v ? Array("true".utf8) : Array("false".utf8))
        needsComma = true
    }

    public mutating func null() {
        separator()
        bytes.append(contentsOf: Array("null".utf8))
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
        if v == 0 { out.append(48); return }
        var x = v.magnitude
        if v < 0 { out.append(UInt8(ascii: "-")) }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                      UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { d in
            while x > 0 {
                d[count] = UInt8(48 + x % 10)
                x /= 10
                count += 1
            }
            for i in stride(from: count - 1, through: 0, by: -1) { out.append(d[i]) }
        }
    }

    @inline(__always) private mutating func separator() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    private mutating func appendInt(_ v: Int64) { Self.appendInteger(v, to: &bytes) }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    private mutating func appendEscaped(_ s: UnsafeRawBufferPointer) {
        bytes.append(UInt8(ascii: "\""))
        for c in s {
            switch c {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [92, 34])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [92, 92])
            case 0x0A: bytes.append(contentsOf: [92, UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [92, UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [92, UInt8(ascii: "t")])
            case 0..<0x20:
                bytes.append(contentsOf: [92, UInt8(ascii: "u"), 48, 48, Self.hex[Int(c >> 4)], Self.hex[Int(c & 15)]])
            default: bytes.append(c)
            }
        }
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
