/// What one OTLP logs (or traces: spans are its records) message holds for tokenwatch.
public struct OTLPLogBatch: Sendable, Equatable {
    /// Every log record in the message, mapped or not.
    public var recordCount = 0
    /// Records of events no mapping reads (prompts, tool results, …).
    public var skippedCount = 0
    /// Attributable usage events, in message order.
    public var events: [OTLPEvent] = []
    /// Usage records that cannot be counted, with why (e.g. `.noIdentity`), in message order.
    public var rejected: [OTLPRejectedRecord] = []
}

/// A usage record that cannot be counted: what could be read of it, and why.
public struct OTLPRejectedRecord: Sendable, Equatable {
    public var event: OTLPEvent
    public var reason: OTLPError
}

/// OTLP logs (an `ExportLogsServiceRequest`, as the Collector's Kafka exporter writes one per message)
/// → tokenwatch events.
public enum OTLPLogs {
    /// The encoding of one message: OTLP/JSON when its first non-space byte is `{`, protobuf otherwise.
    public enum Encoding: Sendable, Equatable { case protobuf, json }

    public static func encoding(of bytes: UnsafeRawBufferPointer) -> Encoding {
        for b in bytes {
            if b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 { continue }
            return b == UInt8(ascii: "{") ? .json : .protobuf
        }
        return .protobuf
    }

    /// Reads one message. A structural problem anywhere refuses the whole message (so a batch is never
    /// half-counted); problems of single records are in `rejected`.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(OTLPError) -> OTLPLogBatch {
        var batch = OTLPLogBatch()
        let visit = { (record: OTLPLogRecord, resource: OTLPAttributes) in
            batch.recordCount += 1
            switch OTLPMapping.map(record, resource: resource) {
            case .skipped: batch.skippedCount += 1
            case .event(let e): batch.events.append(e)
            case .rejected(let e, let reason): batch.rejected.append(OTLPRejectedRecord(event: e, reason: reason))
            }
        }
        switch encoding(of: bytes) {
        case .json: try OTLPJSONLogs.read(bytes, visit: visit)
        case .protobuf: try OTLPProtobufLogs.read(bytes, visit: visit)
        }
        return batch
    }

    /// The attributable events of one message.
    public static func events(in bytes: UnsafeRawBufferPointer) throws(OTLPError) -> [OTLPEvent] {
        try decode(bytes).events
    }
}
