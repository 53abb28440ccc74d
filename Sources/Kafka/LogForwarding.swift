import CRdKafka
import Logging

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

    static func log(_ logger: Logger, level: Int32, facility: UnsafePointer<CChar>?, message: UnsafePointer<CChar>?) {
        let swiftLevel = self.level(level)
        // Skip building strings for lines the logger would drop anyway.
        guard logger.logLevel <= swiftLevel else { return }
        let text = message.map { String(cString: $0) } ?? ""
        let fac = facility.map { String(cString: $0) } ?? ""
        logger.log(level: swiftLevel, "\(text)", metadata: ["rdkafka.facility": "\(fac)"], source: "librdkafka")
    }
}

/// The C log callback shared by all handles: the handle's opaque is an unretained ``CallbackContext``.
let kafkaLogCallback: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = {
    rk, level, facility, message in
    guard let rk, let context = CallbackContext.from(rd_kafka_opaque(rk)) else { return }
    LogForwarding.log(context.logger, level: level, facility: facility, message: message)
}
