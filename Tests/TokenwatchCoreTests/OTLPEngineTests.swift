import Foundation
import Testing
@testable import TokenwatchCore

/// OTLP messages through the engine: counted, de-duplicated and dead-lettered like native events.
@Suite("OTLP into the engine")
struct OTLPEngineTests {
    @Test func countsResolvedEventsOnceAndDeadLettersTheRest() throws {
        var engine = OTLPFixture.engine()
        let summary = engine.feedOTLP(try OTLPFixture.bytes("people.pb"), offset: 0)
        #expect(summary.counted == 5 && summary.duplicates == 1 && summary.skipped == 2)
        #expect(summary.deadLetters == [.otlp(.noIdentity)])
        let letter = try #require(engine.outbox.first { $0.kind == .deadLetter })
        // Brute force over the fixture: alice 1500 + 1000, bob 57, dave 7, erin 3; nobody unresolved is ranked.
        let board = try engine.latestGlobalBoard(offset: 1)
        #expect(board.count == 4)
        for (user, tokens, events) in [("alice@example.com", 2500, 2), ("uuid-bob", 57, 1),
                                       ("dave@example.com", 7, 1), ("erin@example.com", 3, 1)] as [(String, Int64, Int64)] {
            #expect(board[user]?.tokens == tokens && board[user]?.events == events, "\(user)")
        }
        #expect(board["alice@example.com"]?.team == "payments" && board["erin@example.com"]?.team == "unassigned")
        let o = try #require(try JSONSerialization.jsonObject(with: Data(letter.value)) as? [String: Any])
        #expect(o["reason"] as? String == "otlp:no_identity")
        let payload = try #require(Data(base64Encoded: o["payload_base64"] as? String ?? ""))
        let event = try #require(try JSONSerialization.jsonObject(with: payload) as? [String: Any])
        #expect(event["event_id"] as? String == "req_anon_1" && event["user_id"] == nil)
    }

    @Test func theSameBatchAsJSONOnAnotherPartitionCountsNothingTwice() throws {
        var engine = OTLPFixture.engine()
        engine.feedOTLP(try OTLPFixture.bytes("people.pb"), partition: 0, offset: 0)
        let again = engine.feedOTLP(try OTLPFixture.bytes("people.json"), partition: 1, offset: 0)
        #expect(again.counted == 0 && again.duplicates == 6)
        #expect(try engine.latestGlobalBoard(partitions: [0, 1], offset: 1)["alice@example.com"]?.tokens == 2500)
    }

    @Test func replayedOffsetIsAlreadyProcessed() throws {
        var engine = OTLPFixture.engine()
        engine.feedOTLP(try OTLPFixture.bytes("people.pb"), offset: 7)
        #expect(engine.feedOTLP(try OTLPFixture.bytes("people.pb"), offset: 7).alreadyProcessed)
    }

    @Test("an empty request is dead-lettered", arguments: ["empty.pb", "empty.json"])
    func emptyBatch(_ name: String) throws {
        var engine = OTLPFixture.engine()
        #expect(engine.feedOTLP(try OTLPFixture.bytes(name), offset: 0).deadLetters == [.otlp(.emptyBatch)])
        #expect(engine.counters.deadLetters["otlp:empty"] == 1)
    }

    @Test func malformedMessagesAreDeadLetteredAndTheEngineGoesOn() throws {
        var engine = OTLPFixture.engine()
        let pb = try OTLPFixture.bytes("people.pb")
        #expect(engine.feedOTLP(Array(pb.dropLast()), offset: 0).deadLetters == [.otlp(.truncated)])
        #expect(engine.feedOTLP(Array("{\"resourceLogs\":[".utf8), offset: 1).deadLetters == [.otlp(.malformed)])
        #expect(engine.feedOTLP(pb, offset: 2).counted == 5)
    }
}

@Suite("Codex and Gemini CLI usage events, from SDK-made fixtures")
struct OTLPToolMappingTests {
    @Test("the same events in protobuf and JSON", arguments: ["tools.pb", "tools.json"])
    func codexAndGemini(_ name: String) throws {
        let batch = try OTLPFixture.decode(try OTLPFixture.bytes(name))
        // Codex: only response.completed counts (created and user_prompt are skipped).
        #expect(batch.recordCount == 5 && batch.skippedCount == 2)
        let codex = try #require(batch.events.first { $0.tool == "codex" })
        #expect(codex.userId == "frank@example.com" && codex.sessionId == "conv-1" && codex.model == "gpt-5-codex")
        #expect(codex.inputTokens == 900 && codex.outputTokens == 120 && codex.cacheReadTokens == 600)
        #expect(codex.aliases.accountId == "acct-frank")
        let gemini = try #require(batch.events.first { $0.tool == "gemini_cli" })
        #expect(gemini.userId == "gina@example.com" && gemini.sessionId == "g-1")
        #expect(gemini.inputTokens == 400 && gemini.outputTokens == 80 && gemini.cacheReadTokens == 100)
        #expect(gemini.aliases.installId == "inst-gina")
        // Without a Google login Gemini names only its installation: unresolved unless the identities file knows it.
        let anon = try #require(batch.rejected.first)
        #expect(anon.reason == .noIdentity && anon.event.tool == "gemini_cli" && anon.event.aliases.installId == "inst-anon")
    }

    @Test func unattributedPerToolAndResolvedByInstallation() throws {
        var engine = OTLPFixture.engine()
        engine.feedOTLP(try OTLPFixture.bytes("tools.pb"), offset: 0)
        #expect(engine.ingest.attribution["gemini_cli"] == ToolAttribution(attributed: 1, unattributed: 1, unattributedTokens: 15))
        #expect(engine.ingest.attribution["codex"] == ToolAttribution(attributed: 1))
        var d = IdentityDirectory()
        d.add(.installId, "inst-anon", .init(person: "hank", team: "web"))
        var resolved = OTLPFixture.engine(identities: d)
        #expect(resolved.feedOTLP(try OTLPFixture.bytes("tools.json"), offset: 0).counted == 3)
        #expect(try resolved.latestGlobalBoard(offset: 1)["hank"]?.tokens == 15)
    }
}
