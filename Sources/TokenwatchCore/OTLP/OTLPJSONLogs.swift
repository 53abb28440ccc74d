/// Reads OTLP/JSON `ExportLogsServiceRequest` (the protobuf JSON mapping: lowerCamelCase keys, the
/// proto names accepted too, 64-bit integers as strings or numbers), only the fields the mapping uses.
/// Its building blocks also read traces (OTLPJSONTraces.swift).
struct OTLPJSONLogs {
    var cursor: JSONCursor
    let message: UnsafeRawBufferPointer
    /// Unescaped copies of keys and strings that contained escapes.
    var scratch: [UInt8] = []

    init(_ message: UnsafeRawBufferPointer, base: UnsafePointer<UInt8>) {
        self.message = message
        cursor = JSONCursor(base: base, count: message.count)
    }

    /// Calls `visit` with each log record and the attributes of its resource.
    static func read(_ bytes: UnsafeRawBufferPointer,
                     visit: (OTLPLogRecord, OTLPAttributes) -> Void) throws(OTLPError) {
        try walkRequest(bytes, signal: .logs) { r, resource, _ throws(OTLPError) in visit(try r.readLogRecord(), resource) }
    }

    /// The JSON keys (lowerCamelCase, then the proto name) of one signal's export request.
    struct SignalKeys {
        var resources: (StaticString, StaticString)
        var scopes: (StaticString, StaticString)
        var items: (StaticString, StaticString)
        /// Whether the resource's attributes are hashed (metrics: they name a series).
        var hashesResource = false

        static let logs = SignalKeys(resources: ("resourceLogs", "resource_logs"), scopes: ("scopeLogs", "scope_logs"),
                                     items: ("logRecords", "log_records"))
        static let spans = SignalKeys(resources: ("resourceSpans", "resource_spans"), scopes: ("scopeSpans", "scope_spans"),
                                      items: ("spans", "spans"))
        static let metrics = SignalKeys(resources: ("resourceMetrics", "resource_metrics"),
                                        scopes: ("scopeMetrics", "scope_metrics"), items: ("metrics", "metrics"), hashesResource: true)
    }

    /// Walks an export request of any signal: for each item (log record, span, metric) of each scope of
    /// each resource, hands `item` a reader positioned on it, the resource's attributes and their hash.
    static func walkRequest(_ bytes: UnsafeRawBufferPointer, signal: SignalKeys,
                            item: (inout OTLPJSONLogs, OTLPAttributes, UInt64) throws(OTLPError) -> Void) throws(OTLPError) {
        // String spans are 32-bit offsets; the engine's message bound is far below this anyway.
        guard bytes.count < Int(Int32.max), let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            throw .malformed
        }
        var reader = OTLPJSONLogs(bytes, base: base)
        try reader.forEachMember(depth: 0) { r, key throws(OTLPError) in
            if r.keyIs(key, signal.resources.0, signal.resources.1) {
                try r.forEachElement(depth: 1) { r throws(OTLPError) in try r.readResource(signal, item: item) }
            } else {
                try r.skipValue(depth: 1)
            }
        }
        reader.cursor.skipSpace()
        if !reader.cursor.atEnd { throw .malformed }
    }

    /// One resource entry; the resource may follow its scopes, so they are remembered and read last.
    private mutating func readResource(_ signal: SignalKeys,
                                       item: (inout OTLPJSONLogs, OTLPAttributes, UInt64) throws(OTLPError) -> Void) throws(OTLPError) {
        var resource = OTLPAttributes()
        var resourceHash: UInt64 = 0
        var scopeStarts: [Int] = []
        try forEachMember(depth: 2) { r, key throws(OTLPError) in
            if r.keyIs(key, "resource", "resource") {
                try r.forEachMember(depth: 3) { r, key throws(OTLPError) in
                    if r.keyIs(key, "attributes", "attributes") {
                        try r.readAttributes(into: &resource, depth: 4, hashing: signal.hashesResource, hash: &resourceHash)
                    } else {
                        try r.skipValue(depth: 4)
                    }
                }
            } else if r.keyIs(key, signal.scopes.0, signal.scopes.1) {
                scopeStarts.append(r.cursor.i)
                try r.skipValue(depth: 3)
            } else {
                try r.skipValue(depth: 3)
            }
        }
        let after = cursor.i
        for start in scopeStarts {
            cursor.i = start
            try forEachElement(depth: 3) { r throws(OTLPError) in
                try r.forEachMember(depth: 4) { r, key throws(OTLPError) in
                    guard r.keyIs(key, signal.items.0, signal.items.1) else { try r.skipValue(depth: 5); return }
                    try r.forEachElement(depth: 5) { r throws(OTLPError) in try item(&r, resource, resourceHash) }
                }
            }
        }
        cursor.i = after
    }

    mutating func readLogRecord() throws(OTLPError) -> OTLPLogRecord {
        var record = OTLPLogRecord()
        try forEachMember(depth: 6) { r, key throws(OTLPError) in
            if r.keyIs(key, "timeUnixNano", "time_unix_nano") {
                record.timeUnixNano = try r.readUInt64()
            } else if r.keyIs(key, "observedTimeUnixNano", "observed_time_unix_nano") {
                record.observedTimeUnixNano = try r.readUInt64()
            } else if r.keyIs(key, "attributes", "attributes") {
                try r.readAttributes(into: &record.attributes, depth: 7)
            } else if r.keyIs(key, "eventName", "event_name") {
                record.eventName = try r.readString()
            } else if r.keyIs(key, "body", "body") {
                if case .string(let s)? = try r.readAnyValue(depth: 7) { record.body = s } else { record.body = nil }
            } else {
                try r.skipValue(depth: 7)
            }
        }
        return record
    }

    /// Reads a `KeyValue` array, keeping the values of keys the mapping names.
    mutating func readAttributes(into attributes: inout OTLPAttributes, depth: Int) throws(OTLPError) {
        var unused: UInt64 = 0
        try readAttributes(into: &attributes, depth: depth, hashing: false, hash: &unused)
    }

    /// The same, XOR-ing a hash of each `KeyValue`'s text into `hash` when `hashing` (a metric series'
    /// identity: every attribute, mapped or not, in any order).
    mutating func readAttributes(into attributes: inout OTLPAttributes, depth: Int, hashing: Bool,
                                 hash: inout UInt64) throws(OTLPError) {
        try forEachElement(depth: depth) { r throws(OTLPError) in
            let start = r.cursor.i
            var key: OTLPAttributeKey?
            var value: OTLPValue?
            try r.forEachMember(depth: depth + 1) { r, name throws(OTLPError) in
                if r.keyIs(name, "key", "key") {
                    guard r.cursor.peek() == UInt8(ascii: "\"") else { throw .malformed }
                    let span = try r.readSpan()
                    key = r.withBytes(span) { OTLPAttributeKey.matching($0) }
                } else if r.keyIs(name, "value", "value") {
                    value = try r.readAnyValue(depth: depth + 2)
                } else {
                    try r.skipValue(depth: depth + 2)
                }
            }
            if let key { attributes[key] = value }
            // Only once the element was read whole: its end is then within the message.
            if hashing { hash ^= ByteHash.hash(UnsafeRawBufferPointer(rebasing: r.message[start..<min(r.cursor.i, r.message.count)]), seed: 0x6a73_6f6e) }
        }
    }

    /// Reads an `AnyValue` object; scalar kinds are kept, the rest are `.other`.
    mutating func readAnyValue(depth: Int) throws(OTLPError) -> OTLPValue? {
        if cursor.peek() == UInt8(ascii: "n") { try skipValue(depth: depth); return nil }
        var result: OTLPValue?
        try forEachMember(depth: depth) { r, key throws(OTLPError) in
            if r.keyIs(key, "stringValue", "string_value") {
                result = .string(try r.readString())
            } else if r.keyIs(key, "intValue", "int_value") {
                result = .int(try r.readInt64())
            } else if r.keyIs(key, "doubleValue", "double_value") {
                result = .double(try r.readDouble())
            } else if r.keyIs(key, "boolValue", "bool_value") {
                let c = r.cursor.peek()
                if c == UInt8(ascii: "t") { try r.literal("true"); result = .bool(true) }
                else if c == UInt8(ascii: "f") { try r.literal("false"); result = .bool(false) }
                else { throw .malformed }
            } else if r.keyIs(key, "arrayValue", "array_value") || r.keyIs(key, "kvlistValue", "kvlist_value")
                        || r.keyIs(key, "bytesValue", "bytes_value") {
                try r.skipValue(depth: depth + 1)
                result = .other
            } else {
                try r.skipValue(depth: depth + 1)
            }
        }
        return result
    }

    // MARK: - JSON building blocks

    /// Walks an object's members; `body` gets each key and must consume its value.
    mutating func forEachMember(depth: Int,
                                        _ body: (inout OTLPJSONLogs, TextSpan) throws(OTLPError) -> Void) throws(OTLPError) {
        if depth > EventDecoder.maxDepth { throw .malformed }
        cursor.skipSpace()
        guard cursor.peek() == UInt8(ascii: "{") else { throw .malformed }
        cursor.advance()
        cursor.skipSpace()
        if cursor.peek() == UInt8(ascii: "}") { cursor.advance(); return }
        while true {
            cursor.skipSpace()
            guard cursor.peek() == UInt8(ascii: "\"") else { throw .malformed }
            let mark = scratch.count
            let key = try readSpan()
            cursor.skipSpace()
            guard cursor.peek() == UInt8(ascii: ":") else { throw .malformed }
            cursor.advance()
            cursor.skipSpace()
            try body(&self, key)
            scratch.removeSubrange(mark...)
            cursor.skipSpace()
            let c = cursor.peek()
            cursor.advance()
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "}") { return }
            throw .malformed
        }
    }

    /// Walks an array's elements; `body` must consume each one.
    mutating func forEachElement(depth: Int, _ body: (inout OTLPJSONLogs) throws(OTLPError) -> Void) throws(OTLPError) {
        if depth > EventDecoder.maxDepth { throw .malformed }
        cursor.skipSpace()
        guard cursor.peek() == UInt8(ascii: "[") else { throw .malformed }
        cursor.advance()
        cursor.skipSpace()
        if cursor.peek() == UInt8(ascii: "]") { cursor.advance(); return }
        while true {
            cursor.skipSpace()
            try body(&self)
            cursor.skipSpace()
            let c = cursor.peek()
            cursor.advance()
            if c == UInt8(ascii: ",") { continue }
            if c == UInt8(ascii: "]") { return }
            throw .malformed
        }
    }

    func withBytes<R>(_ span: TextSpan, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        if span.inMessage { return body(UnsafeRawBufferPointer(rebasing: message[Int(span.start)..<Int(span.start + span.count)])) }
        return scratch.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[Int(span.start)..<Int(span.start + span.count)])) }
    }

    func keyIs(_ span: TextSpan, _ camel: StaticString, _ proto: StaticString) -> Bool {
        withBytes(span) { bytes in
            func eq(_ s: StaticString) -> Bool {
                s.utf8CodeUnitCount == bytes.count
                    && UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount).elementsEqual(bytes)
            }
            return eq(camel) || eq(proto)
        }
    }

    mutating func readSpan() throws(OTLPError) -> TextSpan {
        do { return try cursor.readSpan(scratch: &scratch) } catch { throw Self.translate(error) }
    }

    mutating func readString() throws(OTLPError) -> String {
        guard cursor.peek() == UInt8(ascii: "\"") else { throw .malformed }
        let span = try readSpan()
        // The cursor has validated the UTF-8 already.
        return withBytes(span) { String(decoding: $0, as: UTF8.self) }
    }

    mutating func literal(_ s: StaticString) throws(OTLPError) {
        do { try cursor.expectLiteral(s) } catch { throw Self.translate(error) }
    }

    mutating func skipValue(depth: Int) throws(OTLPError) {
        do { try cursor.skipValue(depth: depth, scratch: &scratch) } catch { throw Self.translate(error) }
    }

    /// The text of a JSON number, or of a string (64-bit integers and special doubles come quoted).
    mutating func numberText() throws(OTLPError) -> String {
        if cursor.peek() == UInt8(ascii: "\"") { return try readString() }
        let start = cursor.i
        while true {
            let c = cursor.peek()
            guard (c >= 48 && c <= 57) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+") || c == UInt8(ascii: ".")
                    || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") else { break }
            cursor.advance()
        }
        guard cursor.i > start else { throw .malformed }
        return String(decoding: UnsafeRawBufferPointer(rebasing: message[start..<cursor.i]), as: UTF8.self)
    }

    mutating func readInt64() throws(OTLPError) -> Int64 {
        guard let v = Int64(try numberText()) else { throw .malformed }
        return v
    }

    mutating func readUInt64() throws(OTLPError) -> UInt64 {
        guard let v = UInt64(try numberText()) else { throw .malformed }
        return v
    }

    mutating func readDouble() throws(OTLPError) -> Double {
        guard let v = Double(try numberText()) else { throw .malformed }
        return v
    }

    static func translate(_ error: DeadLetterReason) -> OTLPError {
        error == .invalidUTF8 ? .invalidUTF8 : .malformed
    }
}
