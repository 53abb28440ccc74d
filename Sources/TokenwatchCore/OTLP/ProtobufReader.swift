/// A bounds-checked cursor over protobuf wire format.
///
/// Every length is checked against the bytes that remain before anything is read, so a corrupt
/// length can neither read out of bounds nor make anything allocate; running out of bytes is
/// `OTLPError.truncated`.
struct ProtobufReader {
    /// Protobuf wire types (groups, 3 and 4, are refused: OTLP never uses them).
    enum WireType: UInt8 {
        case varint = 0
        case fixed64 = 1
        case lengthDelimited = 2
        case fixed32 = 5
    }

    let bytes: UnsafeRawBufferPointer
    private var i: Int
    private let end: Int

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        i = 0
        end = bytes.count
    }

    private init(_ bytes: UnsafeRawBufferPointer, from: Int, to: Int) {
        self.bytes = bytes
        i = from
        end = to
    }

    var atEnd: Bool { i >= end }

    mutating func readVarint() throws(OTLPError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard i < end else { throw .truncated }
            let b = bytes[i]
            i += 1
            // The tenth byte may only hold the top bit of a 64-bit value.
            if shift == 63 && b > 1 { throw .malformed }
            value |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return value }
            shift += 7
        }
    }

    /// The next field number and wire type.
    mutating func readTag() throws(OTLPError) -> (field: UInt64, wireType: WireType) {
        let tag = try readVarint()
        let field = tag >> 3
        guard field > 0 else { throw .malformed }
        guard let wire = WireType(rawValue: UInt8(tag & 7)) else { throw .wrongWireType }
        return (field, wire)
    }

    mutating func readFixed64() throws(OTLPError) -> UInt64 {
        guard end - i >= 8 else { throw .truncated }
        var v: UInt64 = 0
        for k in 0..<8 { v |= UInt64(bytes[i + k]) << (8 * UInt64(k)) }
        i += 8
        return v
    }

    /// The bytes of a length-delimited field, as a reader of their own.
    mutating func readMessage() throws(OTLPError) -> ProtobufReader {
        let length = try readVarint()
        guard length <= UInt64(end - i) else { throw .truncated }
        let sub = ProtobufReader(bytes, from: i, to: i + Int(length))
        i += Int(length)
        return sub
    }

    /// A length-delimited field as far as its bytes are there (for telling a damaged message's signal
    /// apart, never for reading values): a length past the end is cut to the end.
    mutating func readMessagePrefix() throws(OTLPError) -> ProtobufReader {
        let length = min(try readVarint(), UInt64(end - i))
        let sub = ProtobufReader(bytes, from: i, to: i + Int(length))
        i += Int(length)
        return sub
    }

    /// The rest of this reader's bytes (for a length-delimited field taken with `readMessage`).
    var remaining: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[i..<end]) }

    /// A length-delimited field as a UTF-8 string.
    mutating func readString() throws(OTLPError) -> String {
        let field = try readMessage()
        let raw = field.remaining
        guard let s = String(validating: raw, as: UTF8.self) else { throw .invalidUTF8 }
        return s
    }

    /// Skips a field this reader does not map.
    mutating func skip(_ wire: WireType) throws(OTLPError) {
        switch wire {
        case .varint: _ = try readVarint()
        case .fixed64: _ = try readFixed64()
        case .lengthDelimited: _ = try readMessage()
        case .fixed32:
            guard end - i >= 4 else { throw .truncated }
            i += 4
        }
    }

    /// Calls `body` with each length-delimited field numbered `field`, skipping all others.
    func forEachMessage(_ field: UInt64, _ body: (ProtobufReader) throws(OTLPError) -> Void) throws(OTLPError) {
        var m = self
        while !m.atEnd {
            let (f, wire) = try m.readTag()
            guard f == field else { try m.skip(wire); continue }
            try Self.expect(wire, .lengthDelimited)
            try body(try m.readMessage())
        }
    }

    /// Throws unless a known field has the wire type its schema gives it.
    static func expect(_ wire: WireType, _ expected: WireType) throws(OTLPError) {
        if wire != expected { throw .wrongWireType }
    }
}
