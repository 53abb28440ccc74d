import CRdKafka
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Routes librdkafka's log lines into swift-log.
enum LogForwarding {
    /// swift-log level for a syslog level as librdkafka reports it (0 emergency … 7 debug).
    static func level(_ syslogLevel: Int32) -> Logger.Level {
        switch syslogLevel {
        case ...2: return .critical
        case 3: return .error
        case 4: return .warning
        case 5: return .notice
        case 6: return .info
        default: return .debug
        }
    }

    static func log(_ context: CallbackContext, level: Int32, facility: UnsafePointer<CChar>?, message: UnsafePointer<CChar>?) {
        let logger = context.logger
        let swiftLevel = self.level(level)
        // Skip building strings for lines the logger would drop anyway.
        guard logger.logLevel <= swiftLevel else { return }
        let text = message.map { String(cString: $0) } ?? ""
        let fac = facility.map { String(cString: $0) } ?? ""
        var metadata: Logger.Metadata = ["rdkafka.facility": "\(fac)"]
        // Warnings and errors repeat while a broker is down (every reconnect): one line per 30 s each.
        if swiftLevel >= .warning {
            guard let suppressed = context.repeats.admit(fac + " " + text, nowMs: monotonicMs()) else { return }
            if suppressed > 0 { metadata["repeated"] = "\(suppressed) more times in the last 30 s" }
        }
        logger.log(level: swiftLevel, "\(text)", metadata: metadata, source: "librdkafka")
    }

}

/// `CLOCK_MONOTONIC` in milliseconds (the same clock as the service's `WallClock.monotonicMs`).
func monotonicMs() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

/// Lets the first of a run of identical log lines through and counts the rest, once per `windowMs`.
/// Digits do not count as a difference ("after 12ms", a port, a broker id), so a line that differs
/// only by its numbers is a repeat.
final class RepeatedLineFilter: Sendable {
    private struct Seen { var lastLoggedMs: Int64; var suppressed: Int }
    private let seen = Mutex<[String: Seen]>([:])
    let windowMs: Int64

    init(windowMs: Int64 = 30_000) { self.windowMs = windowMs }

    /// Nil: drop the line (a repeat within the window). Otherwise log it, saying how many were dropped.
    func admit(_ line: String, nowMs: Int64) -> Int? {
        var key = ""
        for c in line where !(c.isNumber && key.last == "#") { key.append(c.isNumber ? "#" : c) }
        return seen.withLock { seen in
            if var entry = seen[key], nowMs - entry.lastLoggedMs < windowMs {
                entry.suppressed += 1
                seen[key] = entry
                return nil
            }
            let suppressed = seen[key]?.suppressed ?? 0
            if seen.count > 512 { seen.removeAll() }  // bounded: lines that vary without end are not repeats
            seen[key] = Seen(lastLoggedMs: nowMs, suppressed: 0)
            return suppressed
        }
    }
}

/// The C log callback shared by all handles: the handle's opaque is an unretained ``CallbackContext``.
let kafkaLogCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = {
    rk, level, facility, message in
    guard let rk, let context = CallbackContext.from(rd_kafka_opaque(rk)) else { return }
    LogForwarding.log(context, level: level, facility: facility, message: message)
}
