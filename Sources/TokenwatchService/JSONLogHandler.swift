import Foundation
import Logging
import TokenwatchCore

/// A swift-log handler that writes each log line as one JSON object (`logging.format: json`), for log
/// shippers that would otherwise have to parse the text format:
///
/// `{"time":"2026-11-24T10:00:00.123Z","level":"error","logger":"tokenwatch","message":"…","source":"Kafka","metadata":{"rdkafka.facility":"FAIL"}}`
///
/// Metadata values keep their shape (strings, nested objects, arrays); `metadata` and `error` appear
/// only when there are some.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level = .info

    private let label: String
    private let write: @Sendable ([UInt8]) -> Void
    private let clock: @Sendable () -> Int64

    /// Writes to standard error, one `write(2)` per line so concurrent lines never interleave.
    public static func standardError(label: String) -> JSONLogHandler {
        JSONLogHandler(label: label, write: { line in FileHandle.standardError.write(Data(line)) })
    }

    /// A handler that gives each line (with its trailing newline) to `write`; `clock` gives epoch ms.
    public init(label: String, metadataProvider: Logger.MetadataProvider? = nil,
                clock: @escaping @Sendable () -> Int64 = { WallClock.nowMs() }, write: @escaping @Sendable ([UInt8]) -> Void) {
        self.label = label
        self.metadataProvider = metadataProvider
        self.clock = clock
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let own = event.metadata { merged.merge(own) { _, new in new } }

        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.key("time"); w.string(RFC3339.format(clock()))
        w.key("level"); w.string(event.level.rawValue)
        w.key("logger"); w.string(label)
        w.key("message"); w.string(event.message.description)
        w.key("source"); w.string(event.source)
        if let error = event.error { w.key("error"); w.string("\(error)") }
        if !merged.isEmpty {
            w.key("metadata")
            Self.append(.dictionary(merged), to: &w)
        }
        w.endObject()
        write(w.bytes + [0x0A])
    }

    private static func append(_ value: Logger.Metadata.Value, to w: inout JSONWriter) {
        switch value {
        case .string(let s): w.string(s)
        case .stringConvertible(let c): w.string(c.description)
        case .dictionary(let d):
            w.beginObject()
            for (key, value) in d.sorted(by: { $0.key < $1.key }) {
                w.rawKey(key)
                append(value, to: &w)
            }
            w.endObject()
        case .array(let a):
            w.beginArray()
            for value in a { append(value, to: &w) }
            w.endArray()
        }
    }
}
