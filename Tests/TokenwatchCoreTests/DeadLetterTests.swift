import Foundation
import Testing
@testable import TokenwatchCore

@Suite("Dead letters")
struct DeadLetterTests {
    /// Feeds one raw message; returns what became of it and the dead letter it produced, if any.
    static func deadLetter(_ payload: [UInt8], config: EngineConfiguration = EngineConfiguration())
        -> (result: ProcessResult, record: [UInt8]?) {
        var engine = Engine(configuration: config)
        engine.assign(partitions: [0])
        let result = payload.withUnsafeBytes { engine.process($0, partition: 0, offset: 7, receivedAtMs: 1_795_555_201_234) }
        let dead = engine.takeOutputs().filter { $0.kind == .deadLetter }
        #expect(dead.count <= 1)
        return (result, dead.first?.value)
    }

    static func object(_ record: [UInt8]) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(record)) as? [String: Any])
    }

    /// The keys of a flat JSON object, in the order written.
    static func keyOrder(_ record: [UInt8]) -> [String] {
        let text = String(decoding: record, as: UTF8.self)
        let keys = ["schema", "reason", "topic", "partition", "offset", "received_at", "payload_base64", "payload_bytes",
                    "truncated", "payload_sha256"]
        return keys.compactMap { k in text.range(of: "\"\(k)\":").map { (k, $0.lowerBound) } }
            .sorted { $0.1 < $1.1 }.map(\.0)
    }

    static func sha256ByPython(_ bytes: [UInt8]) throws -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("tw-dl-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try Data(bytes).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let out = try runPython("import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], 'rb').read()).hexdigest())",
                                arguments: [file.path])
        return out.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// What every truncated dead letter must satisfy.
    static func expectTruncated(_ record: [UInt8], payload: [UInt8], cap: Int, reason: String) throws {
        #expect(record.count < 100_000, "a dead letter of \(record.count) bytes")
        let o = try object(record)
        #expect(o["schema"] as? String == "tokenwatch.deadletter.v1")
        #expect(o["reason"] as? String == reason)
        #expect((o["payload_bytes"] as? NSNumber)?.intValue == payload.count)
        #expect(o["truncated"] as? Bool == true)
        let prefix = try #require((o["payload_base64"] as? String).flatMap { Data(base64Encoded: $0) })
        #expect(Array(prefix) == Array(payload.prefix(cap)))
        let digest = try #require(o["payload_sha256"] as? String)
        #expect(digest.count == 64 && digest.allSatisfy { "0123456789abcdef".contains($0) })
        #expect(digest == (try sha256ByPython(payload)))
        #expect(keyOrder(record) == ["schema", "reason", "topic", "partition", "offset", "received_at", "payload_base64",
                                     "payload_bytes", "truncated", "payload_sha256"])
    }

    @Test func twoMegabytesOfBinaryFitAndSayTruncated() throws {
        let payload = testBytes(2_097_152, seed: 11)
        let (result, record) = Self.deadLetter(payload)
        #expect(result == .deadLetter(.messageTooLarge))
        try Self.expectTruncated(try #require(record), payload: payload, cap: 65_536, reason: "message_too_large")
    }

    @Test func twoMegabyteJSONObjectFitsAndSaysTruncated() throws {
        let huge = String(repeating: "x", count: 2_000_000)
        let payload = Array(#"{"event_id":"e1","ts":1795555200000,"user_id":"\#(huge)","input_tokens":1,"output_tokens":1}"#.utf8)
        let (result, record) = Self.deadLetter(payload)
        #expect(result == .deadLetter(.messageTooLarge))
        try Self.expectTruncated(try #require(record), payload: payload, cap: 65_536, reason: "message_too_large")

        // Accepted by size, the decoder rejects it for the long string instead: still truncated.
        var roomy = EngineConfiguration()
        roomy.maxMessageBytes = 4_194_304
        let (r2, record2) = Self.deadLetter(payload, config: roomy)
        guard case .deadLetter(let reason) = r2 else { Issue.record("not dead-lettered: \(r2)"); return }
        #expect(reason == .tooLong(.userId))
        try Self.expectTruncated(try #require(record2), payload: payload, cap: 65_536, reason: reason.description)
    }

    @Test func smallPayloadIsKeptWhole() throws {
        let payload = Array(#"{"event_id":"e1","ts":1795555200000,"input_tokens":1,"output_tokens":1}"#.utf8)
        let (result, record) = Self.deadLetter(payload)
        #expect(result == .deadLetter(.missingField(.userId)))
        let bytes = try #require(record)
        let o = try Self.object(bytes)
        #expect(o["reason"] as? String == "missing_field:user_id")
        #expect(o["topic"] as? String == "ai-usage")
        #expect((o["partition"] as? NSNumber)?.intValue == 0)
        #expect((o["offset"] as? NSNumber)?.intValue == 7)
        #expect((o["received_at"] as? NSNumber)?.int64Value == 1_795_555_201_234)
        #expect((o["payload_base64"] as? String).flatMap { Data(base64Encoded: $0) }.map(Array.init) == payload)
        #expect((o["payload_bytes"] as? NSNumber)?.intValue == payload.count)
        #expect(o["truncated"] == nil)
        #expect(o["payload_sha256"] == nil)
        #expect(Self.keyOrder(bytes) == ["schema", "reason", "topic", "partition", "offset", "received_at", "payload_base64", "payload_bytes"])
    }

    @Test func capIsExact() throws {
        var config = EngineConfiguration()
        config.deadLetterPayloadCap = 100
        let atCap = testBytes(100, seed: 3)
        let (_, whole) = Self.deadLetter(atCap, config: config)
        let o = try Self.object(try #require(whole))
        #expect((o["payload_base64"] as? String).flatMap { Data(base64Encoded: $0) }.map(Array.init) == atCap)
        #expect(o["truncated"] == nil)

        let over = testBytes(101, seed: 4)
        let (_, cut) = Self.deadLetter(over, config: config)
        let c = try Self.object(try #require(cut))
        #expect((c["payload_base64"] as? String).flatMap { Data(base64Encoded: $0) }.map(Array.init) == Array(over.prefix(100)))
        #expect((c["payload_bytes"] as? NSNumber)?.intValue == 101)
        #expect(c["truncated"] as? Bool == true)
        #expect(c["payload_sha256"] as? String == SHA256.hex(SHA256.hash(over)))

        // A cap of 0 keeps no payload at all, only its size and digest.
        config.deadLetterPayloadCap = 0
        let (_, none) = Self.deadLetter(over, config: config)
        let n = try Self.object(try #require(none))
        #expect(n["payload_base64"] as? String == "")
        #expect(n["truncated"] as? Bool == true)
    }
}
