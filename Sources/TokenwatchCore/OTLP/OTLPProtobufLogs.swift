/// Reads `ExportLogsServiceRequest` protobuf (opentelemetry-proto `collector/logs/v1`), only the
/// fields the mapping uses; every other field is skipped by its wire type.
enum OTLPProtobufLogs {
    // Field numbers from opentelemetry-proto (logs/v1/logs.proto, common/v1/common.proto).
    private enum Field {
        static let resourceLogs: UInt64 = 1          // ExportLogsServiceRequest
        static let resource: UInt64 = 1              // ResourceLogs
        static let scopeLogs: UInt64 = 2             // ResourceLogs
        static let resourceAttributes: UInt64 = 1    // Resource
        static let logRecords: UInt64 = 2            // ScopeLogs
        static let timeUnixNano: UInt64 = 1          // LogRecord, fixed64
        static let body: UInt64 = 5                  // LogRecord, AnyValue
        static let recordAttributes: UInt64 = 6      // LogRecord
        static let observedTimeUnixNano: UInt64 = 11 // LogRecord, fixed64
        static let eventName: UInt64 = 12            // LogRecord, string
        static let key: UInt64 = 1                   // KeyValue
        static let value: UInt64 = 2                 // KeyValue
    }

    /// Calls `visit` with each log record and the attributes of its resource.
    static func read(_ bytes: UnsafeRawBufferPointer,
                     visit: (OTLPLogRecord, OTLPAttributes) -> Void) throws(OTLPError) {
        try ProtobufReader(bytes).forEachMessage(Field.resourceLogs) { resourceLogs throws(OTLPError) in
            // The resource may come after its scope logs on the wire: read it first, then the records.
            var resource = OTLPAttributes()
            try resourceLogs.forEachMessage(Field.resource) { r throws(OTLPError) in
                try r.forEachMessage(Field.resourceAttributes) { kv throws(OTLPError) in try readKeyValue(kv, into: &resource) }
            }
            try resourceLogs.forEachMessage(Field.scopeLogs) { scope throws(OTLPError) in
                try scope.forEachMessage(Field.logRecords) { record throws(OTLPError) in
                    visit(try readLogRecord(record), resource)
                }
            }
        }
    }

    private static func readLogRecord(_ message: ProtobufReader) throws(OTLPError) -> OTLPLogRecord {
        var record = OTLPLogRecord()
        var m = message
        while !m.atEnd {
            let (field, wire) = try m.readTag()
            switch field {
            case Field.timeUnixNano:
                try ProtobufReader.expect(wire, .fixed64)
                record.timeUnixNano = try m.readFixed64()
            case Field.observedTimeUnixNano:
                try ProtobufReader.expect(wire, .fixed64)
                record.observedTimeUnixNano = try m.readFixed64()
            case Field.recordAttributes:
                try ProtobufReader.expect(wire, .lengthDelimited)
                try readKeyValue(try m.readMessage(), into: &record.attributes)
            case Field.eventName:
                try ProtobufReader.expect(wire, .lengthDelimited)
                record.eventName = try m.readString()
            case Field.body:
                try ProtobufReader.expect(wire, .lengthDelimited)
                if case .string(let s) = try readAnyValue(try m.readMessage()) { record.body = s } else { record.body = nil }
            default:
                try m.skip(wire)
            }
        }
        return record
    }

    /// Reads one `KeyValue`, keeping it only when the mapping names its key.
    static func readKeyValue(_ message: ProtobufReader, into attributes: inout OTLPAttributes) throws(OTLPError) {
        var m = message
        var key: OTLPAttributeKey?
        var keySeen = false
        var value: ProtobufReader?
        while !m.atEnd {
            let (field, wire) = try m.readTag()
            switch field {
            case Field.key:
                try ProtobufReader.expect(wire, .lengthDelimited)
                let raw = try m.readMessage().remaining
                key = OTLPAttributeKey.matching(raw)
                keySeen = true
            case Field.value:
                try ProtobufReader.expect(wire, .lengthDelimited)
                value = try m.readMessage()
            default:
                try m.skip(wire)
            }
        }
        // Unmapped values are only length-checked (by readMessage): decoding them would cost a string
        // each for attributes nobody reads.
        guard keySeen, let key, let value else { return }
        attributes[key] = try readAnyValue(value)
    }

    /// Reads an `AnyValue`; scalar kinds are kept, the rest are `.other`.
    private static func readAnyValue(_ message: ProtobufReader) throws(OTLPError) -> OTLPValue? {
        var m = message
        var result: OTLPValue?
        while !m.atEnd {
            let (field, wire) = try m.readTag()
            switch field {
            case 1: // string_value
                try ProtobufReader.expect(wire, .lengthDelimited)
                result = .string(try m.readString())
            case 2: // bool_value
                try ProtobufReader.expect(wire, .varint)
                result = .bool(try m.readVarint() != 0)
            case 3: // int_value (int64: two's complement in a varint)
                try ProtobufReader.expect(wire, .varint)
                result = .int(Int64(bitPattern: try m.readVarint()))
            case 4: // double_value
                try ProtobufReader.expect(wire, .fixed64)
                result = .double(Double(bitPattern: try m.readFixed64()))
            case 5, 6, 7: // array_value, kvlist_value, bytes_value
                try ProtobufReader.expect(wire, .lengthDelimited)
                _ = try m.readMessage()
                result = .other
            default:
                try m.skip(wire)
            }
        }
        return result
    }
}
