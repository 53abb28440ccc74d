import Testing
@testable import Kafka

@Suite("librdkafka's repeated log lines")
struct RepeatedLineFilterTests {
    @Test("a line repeated within the window is dropped and counted; numbers do not make it new; after the window it comes back with the count")
    func collapses() {
        let filter = RepeatedLineFilter(windowMs: 30_000)
        #expect(filter.admit("FAIL 127.0.0.1:9092/1: Connect failed (after 0ms)", nowMs: 0) == 0)
        #expect(filter.admit("FAIL 127.0.0.1:9092/1: Connect failed (after 3ms)", nowMs: 1_000) == nil)
        #expect(filter.admit("FAIL 127.0.0.1:9093/2: Connect failed (after 12ms)", nowMs: 2_000) == nil)
        #expect(filter.admit("ERROR something else", nowMs: 2_500) == 0)
        #expect(filter.admit("FAIL 127.0.0.1:9092/1: Connect failed (after 0ms)", nowMs: 31_000) == 2)
        #expect(filter.admit("FAIL 127.0.0.1:9092/1: Connect failed (after 0ms)", nowMs: 31_001) == nil)
    }
}
