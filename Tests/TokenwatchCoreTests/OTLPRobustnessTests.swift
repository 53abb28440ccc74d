import Foundation
import Testing
@testable import TokenwatchCore

/// Hostile OTLP input: truncation, wrong wire types, wrong JSON types, a 10 MB batch, random mutations.
@Suite("OTLP robustness")
struct OTLPRobustnessTests {
    @Test func everyTruncationOfTheProtobufIsRefusedOrShorter() throws {
        let pb = try OTLPFixture.bytes("people.pb")
        let full = try OTLPFixture.decode(pb)
        for n in 0..<pb.count {
            // A prefix ending between top-level fields is a smaller valid request; anything else is truncated.
            do {
                let batch = try OTLPFixture.decode(Array(pb[0..<n]))
                #expect(batch.recordCount < full.recordCount)
            } catch {
                #expect(error == .truncated || error == .wrongWireType || error == .malformed, "prefix \(n): \(error)")
            }
        }
        #expect(throws: OTLPError.truncated) { try OTLPFixture.decode(Array(pb.dropLast())) }
    }

    @Test func everyTruncationOfTheJSONIsMalformed() throws {
        let json = try OTLPFixture.bytes("people.json")
        for n in stride(from: 1, to: json.count, by: 7) {
            #expect(throws: OTLPError.self) { try OTLPFixture.decode(Array(json[0..<n])) }
        }
    }

    @Test func wrongWireTypesAreErrors() {
        // resource_logs as a varint.
        #expect(throws: OTLPError.wrongWireType) { try OTLPFixture.decode([0x08, 0x01]) }
        // time_unix_nano as a string.
        #expect(throws: OTLPError.wrongWireType) {
            try OTLPFixture.decode(ProtobufWriter.request { $0.string(1, "12") })
        }
        // An attribute value's int_value as fixed64.
        #expect(throws: OTLPError.wrongWireType) {
            try OTLPFixture.decode(ProtobufWriter.request { r in
                r.message(6) { kv in kv.string(1, "input_tokens"); kv.message(2) { $0.fixed64(3, 5) } }
            })
        }
        // A group (wire type 3), never used by OTLP.
        #expect(throws: OTLPError.wrongWireType) { try OTLPFixture.decode([0x0B, 0x0C]) }
        // A length beyond the message.
        #expect(throws: OTLPError.truncated) { try OTLPFixture.decode([0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F]) }
    }

    @Test func wrongJSONTypesAreErrors() {
        for text in [#"{"resourceLogs":5}"#, #"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":true}]}]}]}"#,
                     #"{"resourceLogs":[{"resource":{"attributes":[{"key":7}]}}]}"#, "[]", "{} x",
                     #"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"attributes":[{"key":"input_tokens","value":{"intValue":"1.5"}}]}]}]}]}"#] {
            #expect(throws: OTLPError.self, "\(text)") { try OTLPFixture.decode(Array(text.utf8)) }
        }
    }

    @Test func aTenMegabyteBatchIsReadWithinBoundsOrRefused() throws {
        // Concatenated requests are one request holding all their resource logs (protobuf merge).
        let pb = try OTLPFixture.bytes("people.pb")
        let copies = 10 * 1_048_576 / pb.count + 1
        var big: [UInt8] = []
        big.reserveCapacity(copies * pb.count)
        for _ in 0..<copies { big += pb }
        #expect(big.count > 10 * 1_048_576)
        let batch = try OTLPFixture.decode(big)
        #expect(batch.recordCount == 9 * copies && batch.events.count == 6 * copies)
        // Above max_message_bytes (1 MiB by default) it is refused unread.
        var engine = OTLPFixture.engine()
        #expect(engine.feedOTLP(big, offset: 0).deadLetters == [.messageTooLarge])
        // Allowed, every copy after the first is a duplicate.
        var roomy = OTLPFixture.engine(maxMessageBytes: 16 * 1_048_576)
        let summary = roomy.feedOTLP(big, offset: 0)
        #expect(summary.counted == 5 && summary.duplicates == 6 * copies - 5)
    }

    @Test(arguments: ["people.pb", "people.json"])
    func randomMutationsNeverTrap(_ name: String) throws {
        let original = try OTLPFixture.bytes(name)
        var rng = SplitMix64(seed: name.hasSuffix("pb") ? 11 : 17)
        var engine = OTLPFixture.engine()
        var outcomes = (read: 0, refused: 0)
        for iteration in 0..<3000 {
            var bytes = original
            for _ in 0..<(1 + Int(rng.next() % 4)) {
                let at = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 5 {
                case 0: bytes[at] = UInt8(truncatingIfNeeded: rng.next())
                case 1: bytes[at] ^= 1 << UInt8(rng.next() % 8)
                case 2: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: at)
                case 3: bytes.remove(at: at)
                default: bytes.removeSubrange(at...)
                }
                if bytes.isEmpty { bytes = [0] }
            }
            do {
                _ = try OTLPFixture.decode(bytes)
                outcomes.read += 1
            } catch {
                outcomes.refused += 1
            }
            engine.feedOTLP(bytes, offset: Int64(iteration))
        }
        #expect(outcomes.read + outcomes.refused == 3000)
        #expect(outcomes.refused > 0)
    }
}
