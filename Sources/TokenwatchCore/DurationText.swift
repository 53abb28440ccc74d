/// Parses and formats the contract's duration syntax: `250ms`, `30s`, `5m`, `1h`, `7d`, and sums like `1h30m`.
public enum DurationText {
    /// Milliseconds for `text`, or nil when it is not a positive-or-zero duration in the contract's syntax.
    public static func parse(_ text: String) -> Int64? {
        var total: Int64 = 0
        var number: Int64 = 0
        var haveDigits = false
        var sawUnit = false
        var chars = Array(text.utf8)[...]
        if chars.isEmpty { return nil }
        while let c = chars.first {
            if c >= 48 && c <= 57 {
                let (m, o1) = number.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(Int64(c - 48))
                if o1 || o2 { return nil }
                number = s
                haveDigits = true
                chars = chars.dropFirst()
                continue
            }
            guard haveDigits else { return nil }
            let unit: Int64
            if chars.starts(with: "ms".utf8) {
                unit = 1; chars = chars.dropFirst(2)
            } else {
                switch c {
                case UInt8(ascii: "s"): unit = 1_000
                case UInt8(ascii: "m"): unit = 60_000
                case UInt8(ascii: "h"): unit = 3_600_000
                case UInt8(ascii: "d"): unit = 86_400_000
                case UInt8(ascii: "w"): unit = 7 * 86_400_000
                default: return nil
                }
                chars = chars.dropFirst()
            }
            let (p, o3) = number.multipliedReportingOverflow(by: unit)
            let (t, o4) = total.addingReportingOverflow(p)
            if o3 || o4 { return nil }
            total = t
            number = 0
            haveDigits = false
            sawUnit = true
        }
        return (haveDigits || !sawUnit) ? nil : total
    }

    /// The shortest text for `ms` in the largest whole units (`90m` → `1h30m`, `86400000` → `1d`).
    public static func format(ms: Int64) -> String {
        if ms == 0 { return "0s" }
        var rest = ms
        var out = ""
        for (unit, suffix) in [(Int64(86_400_000), "d"), (3_600_000, "h"), (60_000, "m"), (1_000, "s"), (1, "ms")] {
            if rest >= unit {
                out += "\(rest / unit)\(suffix)"
                rest %= unit
            }
        }
        return out
    }
}
