import Testing
@testable import TokenwatchCore

@Suite("Optional event fields of the second round; outcomes unknown unless reported")
struct EventFieldsTests {
    let base = #""event_id":"e1","ts":1795555200000,"user_id":"alice","input_tokens":10,"output_tokens":5"#

    func decode(_ json: String) -> Result<DecodedEvent, DeadLetterReason> {
        var decoder = EventDecoder()
        let bytes = Array(json.utf8)
        return bytes.withUnsafeBytes { buf in
            do throws(DeadLetterReason) { return .success(try decoder.decode(buf)) } catch { return .failure(error) }
        }
    }

    @Test func decodesEveryNewField() throws {
        let json = "{\(base),\"cache_creation_tokens\":300,\"cost_micros\":12000,\"agent\":\"subagent\",\"entrypoint\":\"sdk-ts\","
            + "\"human_active_ms\":4000,\"agent_active_ms\":90000,\"edits_auto_approved\":3}"
        let e = try decode(json).get()
        #expect(e.cacheCreationTokens == 300 && e.costMicros == 12000)
        #expect(e.agent.count == 8 && e.entrypoint.count == 6)
        #expect(e.humanActiveMs == 4000 && e.agentActiveMs == 90000 && e.editsAutoApproved == 3)
        #expect(e.tokens == 15, "cache creation is not part of tokens")
    }

    @Test func absentMeansUnknownNotZero() throws {
        let e = try decode("{\(base)}").get()
        #expect(e.costMicros == nil && e.humanActiveMs == nil && e.agentActiveMs == nil && e.editsAutoApproved == nil)
        #expect(!e.reportedOutcomes)
        #expect(try !decode("{\(base),\"outcome\":null}").get().reportedOutcomes)
        #expect(try !decode("{\(base),\"outcome\":{}}").get().reportedOutcomes)
        #expect(try decode("{\(base),\"outcome\":{\"commits\":0}}").get().reportedOutcomes, "zero commits reported is a fact")
    }

    @Test("bad values are dead-lettered like any field's", arguments: [
        (#""cost_micros":"12""#, "wrong_type:cost_micros"),
        (#""human_active_ms":-1"#, "out_of_range:human_active_ms"),
        (#""agent":7"#, "wrong_type:agent"),
        (#""edits_auto_approved":1.5"#, "not_integer:edits_auto_approved"),
        (#""cache_creation_tokens":1,"cache_creation_tokens":2"#, "duplicate_field:cache_creation_tokens"),
    ])
    func badValues(_ field: String, _ reason: String) {
        if case .failure(let r) = decode("{\(base),\(field)}") {
            #expect(r.description == reason)
        } else {
            Issue.record("\(field) was accepted")
        }
    }
}
