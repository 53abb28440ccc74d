/// One span as the trace readers hand it to the mapping: its mapped attributes, ids and times.
public struct OTLPSpan: Sendable, Equatable {
    public var attributes = OTLPAttributes()
    /// `trace_id` and `span_id` as lowercase hex (OTLP/JSON writes them so; protobuf has the bytes); empty when absent.
    public var traceId = ""
    public var spanId = ""
    public var startTimeUnixNano: UInt64 = 0
    public var endTimeUnixNano: UInt64 = 0

    public init() {}

    /// Lowercase hex of an id's bytes (16 for a trace, 8 for a span).
    static func hex(_ bytes: UnsafeRawBufferPointer) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// OTLP traces (an `ExportTraceServiceRequest`, one per Kafka message as the Collector's Kafka exporter
/// writes them) → tokenwatch events, through the GenAI span mapping (`OTLPMapping.map(span:resource:)`).
public enum OTLPTraces {
    /// Reads one message (protobuf or OTLP/JSON, detected as for logs). A structural problem refuses
    /// the whole message; problems of single spans are in `rejected`. The batch counts spans as records.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(OTLPError) -> OTLPLogBatch {
        var batch = OTLPLogBatch()
        let visit = { (span: OTLPSpan, resource: OTLPAttributes) in
            batch.recordCount += 1
            switch OTLPMapping.map(span: span, resource: resource) {
            case .skipped: batch.skippedCount += 1
            case .event(let e): batch.events.append(e)
            case .rejected(let e, let reason): batch.rejected.append(OTLPRejectedRecord(event: e, reason: reason))
            }
        }
        switch OTLPLogs.encoding(of: bytes) {
        case .json: try OTLPJSONLogs.readSpans(bytes, visit: visit)
        case .protobuf: try OTLPProtobufTraces.read(bytes, visit: visit)
        }
        return batch
    }
}
