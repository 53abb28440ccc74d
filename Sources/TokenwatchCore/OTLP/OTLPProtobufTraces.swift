/// Reads `ExportTraceServiceRequest` protobuf (opentelemetry-proto `collector/trace/v1`), only the span
/// fields the GenAI mapping uses; every other field (events, links, status, …) is skipped by its wire type.
enum OTLPProtobufTraces {
    // Field numbers from opentelemetry-proto (trace/v1/trace.proto).
    private enum Field {
        static let resourceSpans: UInt64 = 1      // ExportTraceServiceRequest
        static let resource: UInt64 = 1           // ResourceSpans
        static let scopeSpans: UInt64 = 2         // ResourceSpans
        static let resourceAttributes: UInt64 = 1 // Resource
        static let spans: UInt64 = 2              // ScopeSpans
        static let traceId: UInt64 = 1            // Span, bytes
        static let spanId: UInt64 = 2             // Span, bytes
        static let start: UInt64 = 7              // Span, fixed64
        static let end: UInt64 = 8                // Span, fixed64
        static let attributes: UInt64 = 9         // Span, KeyValue
    }

    /// Calls `visit` with each span and the attributes of its resource.
    static func read(_ bytes: UnsafeRawBufferPointer, visit: (OTLPSpan, OTLPAttributes) -> Void) throws(OTLPError) {
        try ProtobufReader(bytes).forEachMessage(Field.resourceSpans) { resourceSpans throws(OTLPError) in
            // The resource may come after its spans on the wire: read it first.
            var resource = OTLPAttributes()
            try resourceSpans.forEachMessage(Field.resource) { r throws(OTLPError) in
                try r.forEachMessage(Field.resourceAttributes) { kv throws(OTLPError) in
                    try OTLPProtobufLogs.readKeyValue(kv, into: &resource)
                }
            }
            try resourceSpans.forEachMessage(Field.scopeSpans) { scope throws(OTLPError) in
                try scope.forEachMessage(Field.spans) { span throws(OTLPError) in visit(try readSpan(span), resource) }
            }
        }
    }

    private static func readSpan(_ message: ProtobufReader) throws(OTLPError) -> OTLPSpan {
        var span = OTLPSpan()
        var m = message
        while !m.atEnd {
            let (field, wire) = try m.readTag()
            switch field {
            case Field.traceId:
                try ProtobufReader.expect(wire, .lengthDelimited)
                span.traceId = try readId(&m, bytes: 16)
            case Field.spanId:
                try ProtobufReader.expect(wire, .lengthDelimited)
                span.spanId = try readId(&m, bytes: 8)
            case Field.start:
                try ProtobufReader.expect(wire, .fixed64)
                span.startTimeUnixNano = try m.readFixed64()
            case Field.end:
                try ProtobufReader.expect(wire, .fixed64)
                span.endTimeUnixNano = try m.readFixed64()
            case Field.attributes:
                try ProtobufReader.expect(wire, .lengthDelimited)
                try OTLPProtobufLogs.readKeyValue(try m.readMessage(), into: &span.attributes)
            default:
                try m.skip(wire)
            }
        }
        return span
    }

    /// A trace or span id: exactly `bytes` long, or empty (absent); any other length is malformed.
    private static func readId(_ m: inout ProtobufReader, bytes: Int) throws(OTLPError) -> String {
        let raw = try m.readMessage().remaining
        if raw.isEmpty { return "" }
        guard raw.count == bytes else { throw .malformed }
        return OTLPSpan.hex(raw)
    }
}
