/// Number and time formatting for alert summaries: deterministic, no Foundation, no locale.
enum AlertText {
    /// `0.96` → `"0.96"`, `30` → `"30.0"` with `decimals` fixed places.
    static func fixed(_ v: Double, _ decimals: Int) -> String {
        guard v.isFinite else { return "0" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let n = Int64((abs(v) * scale).rounded())
        let s = Int64(scale)
        var out = (v < 0 && n != 0 ? "-" : "") + String(n / s)
        if decimals > 0 {
            let frac = String(n % s)
            out += "." + String(repeating: "0", count: decimals - frac.count) + frac
        }
        return out
    }

    /// Token counts the way people say them: `950`, `4.1k`, `412k`, `1.2M`, `3.4B`.
    static func tokens(_ v: Double) -> String {
        let x = max(0, v)
        if x < 1_000 { return String(Int64(x.rounded())) }
        if x < 10_000 { return fixed(x / 1_000, 1) + "k" }
        if x < 999_500 { return String(Int64((x / 1_000).rounded())) + "k" }
        if x < 999_500_000 { return fixed(x / 1_000_000, 1) + "M" }
        return fixed(x / 1_000_000_000, 1) + "B"
    }

    /// An interval in seconds with one decimal: `30.0 s`.
    static func seconds(ms: Double) -> String { fixed(ms / 1000, 1) + " s" }

    /// A duration rounded to whole minutes (`3h25m`), or seconds when shorter than a minute;
    /// whole hours up to two days in hours (`24h`, not `1d`).
    static func duration(ms: Int64) -> String {
        if ms < 60_000 { return DurationText.format(ms: max(0, ms / 1000 * 1000)) }
        if ms % 3_600_000 == 0 && ms <= 48 * 3_600_000 { return "\(ms / 3_600_000)h" }
        return DurationText.format(ms: (ms + 30_000) / 60_000 * 60_000)
    }

    /// A share as a whole percentage: `0.637` → `64%`.
    static func percent(_ share: Double) -> String { String(Int64((share * 100).rounded())) + "%" }

    static let weekdays = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]

    /// `Sun 14:00 UTC` for an epoch-millisecond time.
    static func utc(_ ms: Int64) -> String {
        let day: Int64 = 86_400_000
        let days = floorDiv(ms, day)
        let weekday = Int(((days + 3) % 7 + 7) % 7)  // 1970-01-01 was a Thursday
        let minute = (ms - days * day) / 60_000
        let hh = minute / 60, mm = minute % 60
        return "\(weekdays[weekday]) \(hh < 10 ? "0" : "")\(hh):\(mm < 10 ? "0" : "")\(mm) UTC"
    }

    /// `1 request` / `3 requests`.
    static func count(_ n: Double, _ singular: String, _ plural: String) -> String {
        let v = Int64(n.rounded())
        return "\(v) \(v == 1 ? singular : plural)"
    }
}
