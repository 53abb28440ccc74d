import TokenwatchCore

/// A weekly instant in UTC, written `mon 00:00`: when the weekly leaderboard is read.
public struct WeeklyCutoff: Sendable, Hashable, CustomStringConvertible {
    /// Day of the week, 0 = Monday ... 6 = Sunday.
    public var weekday: Int
    /// Minutes since 00:00 UTC of that day, 0..<1440.
    public var minuteOfDay: Int

    /// A cutoff; `weekday` 0...6 from Monday, `minuteOfDay` 0..<1440 (trapping otherwise).
    public init(weekday: Int, minuteOfDay: Int) {
        precondition((0...6).contains(weekday) && (0..<1440).contains(minuteOfDay), "weekly cutoff out of range")
        self.weekday = weekday
        self.minuteOfDay = minuteOfDay
    }

    static let dayNames = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    static let fullDayNames = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

    /// Parses `mon 00:00`: a weekday (`mon`...`sun` or the full name, any case), blanks, and a
    /// 24-hour `HH:MM`. Nil when `text` is not in that form.
    public init?(parsing text: String) {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard parts.count == 2 else { return nil }
        let day = parts[0].lowercased()
        guard let weekday = Self.dayNames.firstIndex(of: day) ?? Self.fullDayNames.firstIndex(of: day) else {
            return nil
        }
        let clock = parts[1].split(separator: ":", omittingEmptySubsequences: false)
        guard clock.count == 2, (1...2).contains(clock[0].count), clock[1].count == 2,
            clock[0].allSatisfy(\.isASCIIDigit), clock[1].allSatisfy(\.isASCIIDigit),
            let hour = Int(clock[0]), let minute = Int(clock[1]), hour < 24, minute < 60
        else { return nil }
        self.init(weekday: weekday, minuteOfDay: hour * 60 + minute)
    }

    /// `mon 00:00`.
    public var description: String {
        let hh = minuteOfDay / 60, mm = minuteOfDay % 60
        return "\(Self.dayNames[weekday]) \(hh < 10 ? "0" : "")\(hh):\(mm < 10 ? "0" : "")\(mm)"
    }

    /// Milliseconds from Monday 00:00 UTC to the cutoff.
    public var offsetInWeekMs: Int64 { Int64(weekday) * 86_400_000 + Int64(minuteOfDay) * 60_000 }

    /// The latest cutoff at or before `epochMs` (epoch milliseconds, UTC).
    public func latest(atOrBefore epochMs: Int64) -> Int64 {
        let week: Int64 = 7 * 86_400_000
        let firstMonday: Int64 = 4 * 86_400_000  // 1970-01-05 was a Monday
        let phase = firstMonday + offsetInWeekMs
        let weeks = floorDiv(epochMs - phase, week)
        return phase + weeks * week
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
