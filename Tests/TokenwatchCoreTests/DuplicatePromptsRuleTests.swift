import Testing
@testable import TokenwatchCore

@Suite("Rule: duplicate_prompts")
struct DuplicatePromptsRuleTests {
    typealias H = DetectionHarness

    @Test func replayingAFewPromptsFires() throws {
        var h = DetectionHarness()
        var rng = TestRandom(10)
        var t = H.monday + 9 * H.hour
        for i in 0..<120 {
            // Two thirds of the requests re-send one of five prompts.
            let prompt = rng.unit() < 0.67 ? "pool-\(rng.next() % 5)" : "fresh-\(i)"
            h.schedule(UsageEvent(id: h.id(), ts: t, user: "hal", prompt: prompt))
            t += 20_000 + Int64(rng.unit() * 100_000)
        }
        h.play()
        h.flush(advanceMs: 8 * H.hour)
        let alerts = try h.alerts(rule: "duplicate_prompts")
        #expect(alerts.map(\.state) == ["firing", "resolved"])
        let a = try #require(alerts.first)
        #expect(try #require(a.evidence["share"]) >= 0.5)
        #expect(try #require(a.evidence["requests"]) >= 32)
        #expect(try #require(a.evidence["repeated_requests"]) >= 16)
        #expect(a.summary.hasPrefix("hal re-sent a recent prompt or context in "))
    }

    @Test func occasionalRetriesDoNotFire() throws {
        var h = DetectionHarness()
        var rng = TestRandom(11)
        var t = H.monday + 9 * H.hour
        var last = "x"
        for i in 0..<300 {
            // One request in eight retries the previous prompt, some twice.
            let prompt = rng.unit() < 0.125 ? last : "fresh-\(i)"
            last = prompt
            h.schedule(UsageEvent(id: h.id(), ts: t, user: "ida", input: 800 + Int64(i * 97 % 1_600), prompt: prompt))
            t += 10_000 + Int64(rng.unit() * 100_000)
        }
        h.play()
        h.flush(advanceMs: 8 * H.hour)
        #expect(try h.alerts(rule: "duplicate_prompts").isEmpty)
    }

    @Test func requestsWithoutAPromptHashAreNotCounted() throws {
        var h = DetectionHarness()
        var t = H.monday + 9 * H.hour
        for _ in 0..<200 {
            h.schedule(UsageEvent(id: h.id(), ts: t, user: "jo", prompt: nil))
            t += 45_000
        }
        h.play()
        h.flush(advanceMs: 8 * H.hour)
        #expect(try h.alerts(rule: "duplicate_prompts").isEmpty)
    }
}
