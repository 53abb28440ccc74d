/// OTLP/JSON `ExportTraceServiceRequest`, with the building blocks of the logs reader. Trace and span
/// ids are hex strings in OTLP/JSON (not base64, unlike the generic protobuf JSON mapping of bytes).
extension OTLPJSONLogs {
    /// Calls `visit` with each span and the attributes of its resource.
    static func readSpans(_ bytes: UnsafeRawBufferPointer, visit: (OTLPSpan, OTLPAttributes) -> Void) throws(OTLPError) {
        try walkRequest(bytes, signal: .spans) { r, resource, _ throws(OTLPError) in visit(try r.readSpan(), resource) }
    }

    private mutating func readSpan() throws(OTLPError) -> OTLPSpan {
        var span = OTLPSpan()
        try forEachMember(depth: 6) { r, key throws(OTLPError) in
            if r.keyIs(key, "traceId", "trace_id") {
                span.traceId = try r.readHexId(bytes: 16)
            } else if r.keyIs(key, "spanId", "span_id") {
                span.spanId = try r.readHexId(bytes: 8)
            } else if r.keyIs(key, "startTimeUnixNano", "start_time_unix_nano") {
                span.startTimeUnixNano = try r.readUInt64()
            } else if r.keyIs(key, "endTimeUnixNano", "end_time_unix_nano") {
                span.endTimeUnixNano = try r.readUInt64()
            } else if r.keyIs(key, "attributes", "attributes") {
                try r.readAttributes(into: &span.attributes, depth: 7)
            } else {
                try r.skipValue(depth: 7)
            }
        }
        return span
    }

    /// A hex id of `bytes` bytes (either case, written lowercase), or "" (absent); anything else is malformed.
    private mutating func readHexId(bytes: Int) throws(OTLPError) -> String {
        let text = try readString()
        if text.isEmpty { return "" }
        guard text.utf8.count == bytes * 2, text.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 | 0x20 >= 97 && $0 | 0x20 <= 102) }) else {
            throw .malformed
        }
        return text.lowercased()
    }
}
