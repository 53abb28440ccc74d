import TokenwatchCore

/// Turns the text of one value into a typed, validated value, or says what is expected.
/// Messages start with the bad value in quotes, e.g. `"5x" is not a duration (write 30s, 5m, 1h, 7d)`.
enum ValueParser {
    static let durationHint = "write 30s, 5m, 1h, 7d"

    static func duration(_ text: String, allowZero: Bool) throws(ValueProblem) -> Int64 {
        let trimmed = text.trimmingBlanks()
        guard let ms = DurationText.parse(trimmed) else {
            throw ValueProblem("\(text.quoted) is not a duration (\(durationHint))")
        }
        if ms == 0 && !allowZero {
            throw ValueProblem("\(text.quoted) is too short: must be more than 0")
        }
        return ms
    }

    static func integer(_ text: String, in range: ClosedRange<Int>) throws(ValueProblem) -> Int {
        let trimmed = text.trimmingBlanks()
        let digits = trimmed.hasPrefix("-") ? trimmed.dropFirst() : trimmed[...]
        // Underscores may group digits, as YAML allows: 1_048_576.
        guard let first = digits.first, first.isASCIIDigit, digits.last?.isASCIIDigit == true,
            digits.allSatisfy({ $0.isASCIIDigit || $0 == "_" }),
            let value = Int(trimmed.filter { $0 != "_" })
        else {
            throw ValueProblem("\(text.quoted) is not a whole number")
        }
        guard range.contains(value) else {
            throw ValueProblem("\(value) is out of range: must be from \(range.lowerBound) to \(range.upperBound)")
        }
        return value
    }

    static func number(_ text: String, in range: ClosedRange<Double>) throws(ValueProblem) -> Double {
        let trimmed = text.trimmingBlanks()
        let plain = trimmed.allSatisfy { $0.isASCIIDigit || "+-._eE".contains($0) }
        guard plain, let value = Double(trimmed.filter { $0 != "_" }), value.isFinite else {
            throw ValueProblem("\(text.quoted) is not a number")
        }
        guard range.contains(value) else {
            let upper = range.upperBound == .greatestFiniteMagnitude ? "" : " and at most \(format(range.upperBound))"
            throw ValueProblem("\(trimmed) is out of range: must be at least \(format(range.lowerBound))\(upper)")
        }
        return value
    }

    /// `true`/`false`, also `yes`/`no`, `on`/`off` and `1`/`0`, in any case.
    static func boolean(_ text: String) throws(ValueProblem) -> Bool {
        switch text.trimmingBlanks().lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw ValueProblem("\(text.quoted) is not true or false")
        }
    }

    static func severity(_ text: String) throws(ValueProblem) -> Severity {
        guard let severity = Severity(rawValue: text.trimmingBlanks().lowercased()) else {
            throw ValueProblem("\(text.quoted) is not a severity (write info, warning or critical)")
        }
        return severity
    }

    /// One of a fixed set of names (`text`/`json`, `info`/`debug`/…), case-insensitive.
    static func choice<Choice: RawRepresentable & CaseIterable>(_ text: String, what: String) throws(ValueProblem) -> Choice
    where Choice.RawValue == String {
        guard let choice = Choice(rawValue: text.trimmingBlanks().lowercased()) else {
            let names = Choice.allCases.map(\.rawValue)
            throw ValueProblem("\(text.quoted) is not a \(what) (write \(names.dropLast().joined(separator: ", ")) or \(names.last!))")
        }
        return choice
    }

    static func rankBy(_ text: String) throws(ValueProblem) -> RankBy {
        guard let rankBy = RankBy(rawValue: text.trimmingBlanks().lowercased()) else {
            throw ValueProblem("\(text.quoted) is not a ranking (write tokens, effective_tokens or outcomes)")
        }
        return rankBy
    }

    static func weeklyCutoff(_ text: String) throws(ValueProblem) -> WeeklyCutoff {
        guard let cutoff = WeeklyCutoff(parsing: text.trimmingBlanks()) else {
            throw ValueProblem(
                "\(text.quoted) is not a weekly cutoff (write a weekday and a 24-hour UTC time, e.g. \"mon 00:00\")")
        }
        return cutoff
    }

    static func listenAddress(_ text: String) throws(ValueProblem) -> String {
        let trimmed = text.trimmingBlanks()
        guard HostPort.parse(trimmed) != nil else {
            throw ValueProblem(
                "\(text.quoted) is not an address to listen on (write host:port, e.g. 127.0.0.1:9464 or [::1]:9464)")
        }
        return trimmed
    }

    /// Comma-separated brokers, each `host:port`, `host`, or `protocol://host:port`.
    static func brokers(_ text: String) throws(ValueProblem) -> String {
        let entries = text.split(separator: ",", omittingEmptySubsequences: false).map {
            String($0).trimmingBlanks()
        }
        for entry in entries {
            var address = entry[...]
            if let scheme = address.firstRange(of: "://") {
                address = address[scheme.upperBound...]
            }
            let valid =
                HostPort.parse(String(address)) != nil
                || (!address.contains(":") && HostPort.isHostName(address))
            guard valid else {
                let what = entry.isEmpty ? "an empty entry" : entry.quoted
                throw ValueProblem(
                    "\(text.quoted) has \(what), which is not a broker address (write host:port, comma-separated)")
            }
        }
        return entries.joined(separator: ",")
    }

    /// A Kafka topic name: 1 to 249 of `a-z A-Z 0-9 . _ -`.
    static func topic(_ text: String) throws(ValueProblem) -> String {
        let trimmed = text.trimmingBlanks()
        try topicCharacters(trimmed, original: text)
        guard !trimmed.isEmpty, trimmed != ".", trimmed != ".." else {
            throw ValueProblem("\(text.quoted) is not a topic name (1 to 249 of a-z A-Z 0-9 . _ -)")
        }
        return trimmed
    }

    /// Characters legal in a topic name; `text` may be empty (a prefix).
    static func topicCharacters(_ text: String, original: String) throws(ValueProblem) {
        let legal = text.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0)
                || $0 == "." || $0 == "_" || $0 == "-"
        }
        guard legal, text.count <= 249 else {
            throw ValueProblem("\(original.quoted) is not a topic name (1 to 249 of a-z A-Z 0-9 . _ -)")
        }
    }

    static func nonEmpty(_ text: String, what: String) throws(ValueProblem) -> String {
        let trimmed = text.trimmingBlanks()
        guard !trimmed.isEmpty else { throw ValueProblem("is empty; expected \(what)") }
        return trimmed
    }

    /// One window, `LENGTH@STEP`. The window is named by its length as written when that is a single
    /// term such as `24h` (so the default boards are `1h`, `24h`, `7d`), else by `DurationText.format`.
    static func window(_ text: String) throws(ValueProblem) -> WindowSpec {
        let trimmed = text.trimmingBlanks()
        let hint = "write LENGTH@STEP, e.g. 24h@15m"
        let parts = trimmed.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw ValueProblem("\(text.quoted) is not a window (\(hint))")
        }
        let lengthText = String(parts[0]).trimmingBlanks(), stepText = String(parts[1]).trimmingBlanks()
        guard let length = DurationText.parse(lengthText) else {
            throw ValueProblem("\(text.quoted): the length \(lengthText.quoted) is not a duration (\(hint))")
        }
        guard let step = DurationText.parse(stepText) else {
            throw ValueProblem("\(text.quoted): the step \(stepText.quoted) is not a duration (\(hint))")
        }
        guard length > 0 else { throw ValueProblem("\(text.quoted): the length must be more than 0") }
        guard step > 0 else { throw ValueProblem("\(text.quoted): the step must be more than 0") }
        guard length % step == 0 else {
            throw ValueProblem("\(text.quoted): the step \(stepText) does not divide the length \(lengthText)")
        }
        return WindowSpec(name: windowName(lengthText, ms: length), lengthMs: length, stepMs: step)
    }

    static func windowName(_ written: String, ms: Int64) -> String {
        let units = ["ms", "s", "m", "h", "d", "w"]
        let digits = written.prefix(while: \.isASCIIDigit)
        let unit = written.dropFirst(digits.count)
        if let first = digits.first, first != "0", units.contains(String(unit)) {
            return written
        }
        return DurationText.format(ms: ms)
    }

    /// At least one window; no two of the same length.
    static func windows(_ items: [RawItem]) throws(ValueProblem) -> [WindowSpec] {
        guard !items.isEmpty else { throw ValueProblem("at least one window is needed, e.g. [\"24h@15m\"]") }
        var windows: [WindowSpec] = []
        for item in items {
            let window: WindowSpec
            do {
                window = try Self.window(item.text)
            } catch {
                throw ValueProblem(error.message, line: item.line)
            }
            if let earlier = windows.first(where: { $0.lengthMs == window.lengthMs || $0.name == window.name }) {
                throw ValueProblem(
                    "\(item.text.quoted) repeats the window \(earlier.name): each window needs its own length",
                    line: item.line)
            }
            windows.append(window)
        }
        return windows
    }

    static func patterns(_ items: [RawItem]) throws(ValueProblem) -> [String] {
        var patterns: [String] = []
        for item in items {
            let pattern = item.text.trimmingBlanks()
            guard !pattern.isEmpty else {
                throw ValueProblem("has an empty pattern; write names with * as the wildcard, e.g. svc-*", line: item.line)
            }
            patterns.append(pattern)
        }
        return patterns
    }

    /// A number as short as it can be written: `50000`, `0.25`.
    static func format(_ value: Double) -> String {
        if value.rounded() == value, abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}
