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
        return (try? protobufSignal(bytes)) ?? damagedSignal(bytes) ?? .logs
    }

    /// The signal of a message that cannot be read whole (truncated): its first record's fields as far
    /// as they go, so it is dead-lettered by the reader of its own signal, with that reader's reason.
    private static func damagedSignal(_ bytes: UnsafeRawBufferPointer) -> OTLPSignal? {
        var reader = ProtobufReader(bytes)
        for field: UInt64 in [1, 2, 2] {
            guard let inner = firstPrefix(&reader, field) else { return nil }
            reader = inner
        }
        var seenName = false
        while !reader.atEnd {
            guard let (field, wire) = try? reader.readTag() else { break }
            if (field == 7 || field == 8) && wire == .fixed64 { return .traces }
            if field == 1 && wire == .lengthDelimited { seenName = true }
            guard (try? reader.skip(wire)) != nil else { break }
        }
        return seenName ? .metrics : nil
    }

    /// The first length-delimited field numbered `field`, cut to the bytes that are there.
    private static func firstPrefix(_ r: inout ProtobufReader, _ field: UInt64) -> ProtobufReader? {
        while !r.atEnd {
            guard let (f, wire) = try? r.readTag() else { return nil }
            if f == field && wire == .lengthDelimited { return try? r.readMessagePrefix() }
            guard (try? r.skip(wire)) != nil else { return nil }
        }
        return nil
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
