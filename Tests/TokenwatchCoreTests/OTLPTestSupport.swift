import Foundation
import Testing
@testable import TokenwatchCore

/// The OTLP fixtures of Tests/Fixtures/otlp (made by make_fixtures.py with the OpenTelemetry SDK).
enum OTLPFixture {
    /// First record's time in ms; record n of the fixture is at `t0 + n * 1000`.
    static let t0: Int64 = 1_795_555_200_000

    static func bytes(_ name: String) throws -> [UInt8] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures/otlp/\(name)")
        return Array(try Data(contentsOf: url))
    }

    static func decode(_ bytes: [UInt8]) throws(OTLPError) -> OTLPLogBatch {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(OTLPError) in try OTLPLogs.decode(raw) } }
        return try result.get()
    }

    static func engine(maxMessageBytes: Int = 1_048_576, identities: IdentityDirectory = IdentityDirectory()) -> Engine {
        var c = EngineConfiguration()
        c.identities = identities
        c.windows = [WindowSpec(name: "1h", lengthMs: 3_600_000, stepMs: 60_000)]
        c.maxMessageBytes = maxMessageBytes
        c.maxFutureSkewMs = 86_400_000
        return Engine(configuration: c)
    }
}

extension Engine {
    /// Moves event time 15 minutes past the fixture (with a service account's event, kept off boards),
    /// emits the due snapshots and returns the last global board's entries.
    mutating func latestGlobalBoard(partitions: [Int32] = [0], offset: Int64) throws -> [String: (tokens: Int64, events: Int64, team: String)] {
        let clock = TestEvent(id: "clock-\(offset)", ts: OTLPFixture.t0 + 15 * 60_000, user: "svc-clock", team: "ops", input: 0, output: 0)
        for p in partitions { feed(clock, partition: p, offset: offset) }
        emitDueSnapshots()
        let boards = try takeOutputs().filter { $0.kind == .leaderboard }.map(Board.init).filter { $0.scope == "global" }
        let last = try #require(boards.last)
        var out: [String: (tokens: Int64, events: Int64, team: String)] = [:]
        for e in last.entries { out[e.user] = (e.tokens, e.events, e.team) }
        return out
    }

    @discardableResult
    mutating func feedOTLP(_ bytes: [UInt8], partition: Int32 = 0, offset: Int64) -> OTLPProcessSummary {
        bytes.withUnsafeBytes { processOTLP($0, partition: partition, offset: offset) }
    }
}

/// Writes protobuf wire format by hand, for messages the SDK would never make (wrong wire types).
struct ProtobufWriter {
    var bytes: [UInt8] = []

    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 { bytes.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        bytes.append(UInt8(v))
    }

    mutating func tag(_ field: UInt64, _ wire: UInt64) { varint(field << 3 | wire) }

    mutating func message(_ field: UInt64, _ body: (inout ProtobufWriter) -> Void) {
        var inner = ProtobufWriter()
        body(&inner)
        tag(field, 2)
        varint(UInt64(inner.bytes.count))
        bytes += inner.bytes
    }

    mutating func string(_ field: UInt64, _ s: String) {
        tag(field, 2)
        varint(UInt64(s.utf8.count))
        bytes += Array(s.utf8)
    }

    mutating func fixed64(_ field: UInt64, _ v: UInt64) {
        tag(field, 1)
        for k in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(k)))) }
    }

    /// An ExportLogsServiceRequest → ResourceLogs → ScopeLogs → one LogRecord written by `record`.
    static func request(_ record: (inout ProtobufWriter) -> Void) -> [UInt8] {
        var w = ProtobufWriter()
        w.message(1) { rl in rl.message(2) { sl in sl.message(2, record) } }
        return w.bytes
    }

    /// A string attribute (KeyValue) as LogRecord field 6.
    mutating func attribute(_ key: String, _ value: String) {
        message(6) { kv in
            kv.string(1, key)
            kv.message(2) { $0.string(1, value) }
        }
    }
}
