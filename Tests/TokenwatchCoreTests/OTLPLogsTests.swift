import Testing
@testable import TokenwatchCore

/// Decoding SDK-made OTLP logs (protobuf and JSON) and mapping Claude Code `api_request` records.
@Suite("OTLP logs")
struct OTLPLogsTests {
    static let t0 = OTLPFixture.t0

    @Test("protobuf and JSON of the same request give the same batch", arguments: ["people.pb", "people.json"])
    func people(_ name: String) throws {
        let batch = try OTLPFixture.decode(try OTLPFixture.bytes(name))
        #expect(batch.recordCount == 9)
        #expect(batch.skippedCount == 2)  // user_prompt, tool_result
        try #require(batch.events.count == 6)
        #expect(batch.events.map(\.eventId) == ["req_alice_1", "req_alice_2", "req_alice_2", "creq_bob_1",
                                                batch.events[4].eventId, "req_erin_1"])
        let alice = batch.events[0]
        #expect(alice == {
            var e = OTLPEvent(eventId: "req_alice_1", timestampMs: Self.t0 + 1000, userId: "alice@example.com", team: "payments",
                              tool: "claude_code", model: "claude-sonnet-4-5", sessionId: "sess-1")
            e.inputTokens = 1200; e.outputTokens = 300; e.cacheReadTokens = 5000
            e.aliases = OTLPAliases(email: "alice@example.com", accountUUID: "uuid-alice", installId: "install-1")
            e.costMicros = 12_000; e.agent = "main"; e.entrypoint = "cli"
            return e
        }())
        // Integers sent as ints, not strings.
        #expect(batch.events[1].inputTokens == 800 && batch.events[1].outputTokens == 200)
        // Only the account uuid: it is the identity; the request id falls back to client_request_id.
        #expect(batch.events[3].userId == "uuid-bob")
        #expect(batch.events[3].inputTokens == 50 && batch.events[3].outputTokens == 7)
        // No request ids at all: a stable hash; a double 3.0 is a count.
        let dave = batch.events[4]
        #expect(dave.userId == "dave@example.com" && dave.eventId.hasPrefix("otlp-") && dave.eventId.count == 21)
        #expect(dave.inputTokens == 3 && dave.outputTokens == 4 && dave.cacheReadTokens == 1)
        // The second resource has no team.id.
        #expect(batch.events[5].userId == "erin@example.com" && batch.events[5].team == nil)
        #expect(batch.events[5].timestampMs == Self.t0 + 9000)
        // Nobody to charge: rejected with its reason, the rest of it kept for the dead letter.
        #expect(batch.rejected.count == 1)
        #expect(batch.rejected[0].reason == .noIdentity)
        #expect(batch.rejected[0].event.eventId == "req_anon_1" && batch.rejected[0].event.userId == nil)
    }

    @Test func protobufAndJSONAgreeOnEveryField() throws {
        let pb = try OTLPFixture.decode(try OTLPFixture.bytes("people.pb"))
        let json = try OTLPFixture.decode(try OTLPFixture.bytes("people.json"))
        #expect(pb == json)
    }

    @Test func encodingIsDetectedPerMessage() throws {
        #expect(try OTLPFixture.bytes("people.json").withUnsafeBytes { OTLPLogs.encoding(of: $0) } == .json)
        #expect(try OTLPFixture.bytes("people.pb").withUnsafeBytes { OTLPLogs.encoding(of: $0) } == .protobuf)
        #expect(Array(" \n\t{}".utf8).withUnsafeBytes { OTLPLogs.encoding(of: $0) } == .json)
    }

    @Test("an empty request has no records", arguments: ["empty.pb", "empty.json"])
    func empty(_ name: String) throws {
        let batch = try OTLPFixture.decode(try OTLPFixture.bytes(name))
        #expect(batch == OTLPLogBatch())
    }

    @Test func eventJSONIsAValidTokenwatchEvent() throws {
        let batch = try OTLPFixture.decode(try OTLPFixture.bytes("people.pb"))
        var decoder = EventDecoder()
        for event in batch.events {
            let decoded = try event.json().withUnsafeBytes { raw in try decoder.decode(raw) }
            #expect(decoder.string(decoded.userId) == event.userId)
            #expect(decoder.string(decoded.eventId) == event.eventId)
            #expect(decoded.ts == event.timestampMs && decoded.tokens == event.inputTokens + event.outputTokens)
            #expect(decoder.string(decoded.tool) == "claude_code")
        }
    }

    @Test func eventNameFromFieldOrBodyWhenNoAttribute() throws {
        let byField = ProtobufWriter.request { r in
            r.fixed64(1, 1_795_555_200_000_000_000)
            r.string(12, "claude_code.api_request")
            r.attribute("user.email", "x@example.com")
            r.attribute("input_tokens", "1"); r.attribute("output_tokens", "2")
        }
        #expect(try OTLPFixture.decode(byField).events.count == 1)
        let byBody = ProtobufWriter.request { r in
            r.fixed64(11, 1_795_555_200_000_000_000)  // only the observed time
            r.message(5) { $0.string(1, "claude_code.api_request") }
            r.attribute("user.account_uuid", "u-1")
            r.attribute("input_tokens", "1"); r.attribute("output_tokens", "2")
        }
        let batch = try OTLPFixture.decode(byBody)
        #expect(batch.events.map(\.userId) == ["u-1"])
        #expect(batch.events.first?.timestampMs == 1_795_555_200_000)
    }

    @Test func recordProblemsAreRejectedWithAReason() throws {
        func reason(_ record: (inout ProtobufWriter) -> Void) throws -> OTLPError? {
            try OTLPFixture.decode(ProtobufWriter.request(record)).rejected.first?.reason
        }
        #expect(try reason { r in
            r.attribute("event.name", "api_request"); r.attribute("user.email", "a@b")
            r.attribute("input_tokens", "1"); r.attribute("output_tokens", "2")
        } == .noTimestamp)
        #expect(try reason { r in
            r.fixed64(1, 1_795_555_200_000_000_000)
            r.attribute("event.name", "api_request"); r.attribute("user.email", "a@b")
            r.attribute("output_tokens", "2")
        } == .missingAttribute("input_tokens"))
        #expect(try reason { r in
            r.fixed64(1, 1_795_555_200_000_000_000)
            r.attribute("event.name", "api_request"); r.attribute("user.email", "a@b")
            r.attribute("input_tokens", "-1"); r.attribute("output_tokens", "2")
        } == .badAttribute("input_tokens"))
    }
}
