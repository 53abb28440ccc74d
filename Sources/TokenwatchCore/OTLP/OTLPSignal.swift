/// Which OTLP export request a message holds. The Collector's Kafka exporter writes logs, metrics
/// and traces as `Export{Logs,Metrics,Trace}ServiceRequest`, whose first field is alike on the wire.
public enum OTLPSignal: String, Sendable, Equatable {
    case logs, metrics, traces

    /// OTLP/JSON by its top-level key; protobuf by the first record of the first resource: a span has
    /// fixed64 times at fields 7 and 8, a metric a string name at field 1, a log record neither.
    /// Undecidable (empty, damaged) messages are taken as logs, whose reader then says what is wrong.
    public static func detect(_ bytes: UnsafeRawBufferPointer) -> OTLPSignal {
        if OTLPLogs.encoding(of: bytes) == .json {
            if contains(bytes, "\"resourceMetrics\"") || contains(bytes, "\"resource_metrics\"") { return .metrics }
            if contains(bytes, "\"resourceSpans\"") || contains(bytes, "\"resource_spans\"") { return .traces }
            return .logs
        }
        return (try? protobufSignal(bytes)) ?? .logs
    }

    private static func protobufSignal(_ bytes: UnsafeRawBufferPointer) throws(OTLPError) -> OTLPSignal? {
        var found: OTLPSignal?
        try ProtobufReader(bytes).forEachMessage(1) { resource throws(OTLPError) in
            guard found == nil else { return }
            try resource.forEachMessage(2) { scope throws(OTLPError) in
                guard found == nil else { return }
                try scope.forEachMessage(2) { record throws(OTLPError) in
                    guard found == nil else { return }
                    found = try classify(record)
                }
            }
        }
        return found
    }

    private static func classify(_ record: ProtobufReader) throws(OTLPError) -> OTLPSignal {
        var m = record
        var nameField = false
        while !m.atEnd {
            let (field, wire) = try m.readTag()
            if (field == 7 || field == 8) && wire == .fixed64 { return .traces }
            if field == 1 && wire == .lengthDelimited { nameField = true }
            try m.skip(wire)
        }
        return nameField ? .metrics : .logs
    }

    /// Whether `needle` occurs in `bytes` (top-level keys of OTLP/JSON are near the start).
    private static func contains(_ bytes: UnsafeRawBufferPointer, _ needle: String) -> Bool {
        let n = Array(needle.utf8)
        let limit = min(bytes.count, 4096)
        guard limit >= n.count else { return false }
        for i in 0...(limit - n.count) where bytes[i] == n[0] {
            if (0..<n.count).allSatisfy({ bytes[i + $0] == n[$0] }) { return true }
        }
        return false
    }
}
