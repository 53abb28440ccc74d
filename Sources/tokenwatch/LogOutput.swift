import Foundation
import Logging
import Synchronization
import TokenwatchConfig
import TokenwatchService

/// How this process writes its logs: swift-log is bootstrapped once per process, by the first of
/// `loadConfiguration` (with `logging.*`) or `makeLogger` (with the defaults, for commands that read
/// no configuration).
enum LogOutput {
    /// The settings in force once bootstrapped.
    private static let bootstrapped = Mutex<LoggingSettings?>(nil)

    /// Bootstraps swift-log with `settings` unless it already is; returns the settings in force.
    @discardableResult
    static func bootstrap(_ settings: LoggingSettings) -> LoggingSettings {
        bootstrapped.withLock { current in
            if let current { return current }
            switch settings.format {
            case .text: LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
            case .json: LoggingSystem.bootstrap { JSONLogHandler.standardError(label: $0) }
            }
            current = settings
            return settings
        }
    }

    /// The level for new loggers: `TOKENWATCH_LOG_LEVEL` (the older name, still honoured) over `logging.level`.
    static func level(_ settings: LoggingSettings) -> Logger.Level {
        let legacy = ProcessInfo.processInfo.environment["TOKENWATCH_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0.lowercased()) }
        return legacy ?? Logger.Level(rawValue: settings.level.rawValue) ?? .info
    }
}

/// A logger labelled `label`, writing as configured (see `LogOutput`).
func makeLogger(_ label: String) -> Logger {
    let settings = LogOutput.bootstrap(LoggingSettings())
    var logger = Logger(label: label)
    logger.logLevel = LogOutput.level(settings)
    return logger
}
