import Testing
import TokenwatchCore
@testable import TokenwatchService

@Suite("Prometheus text rendering")
struct MetricsTests {
    static func sampleStatus() -> PipelineStatus {
        var s = PipelineStatus()
        s.ready = true
        s.consumed = 1_234
        s.counters.counted = 1_000
        s.counters.duplicates = 34
        s.counters.releasedUsers = 17
        s.counters.deadLetters = ["missing_field:user_id": 3, "late": 2, "weird \"reason\"\\\n": 1]
        s.watermark = 1_795_555_200_000
        s.lastSnapshotAt = 1_795_555_140_000
        s.lag = [0: 10, 3: 0]
        s.partitionNewest = [0: 1_795_555_260_000, 3: 1_795_555_205_000]
        s.assigned = [0, 3]
        s.inFlight = 7
        s.trackedUsers = 42
        s.activeUsers = [("1h", 5), ("24h", 40)]
        s.alertsByRule = ["machine_cadence": 2]
        s.lastCheckpointAtMs = 1_795_555_190_000
        for ms: Int64 in [0, 3, 40, 900, 4_000, 1_000_000] { s.processingLatency.observe(milliseconds: ms) }
        s.batchDuration.observe(milliseconds: 2)
        s.alertEmitToAck.observe(milliseconds: 12)
        s.alertEventToAck.observe(milliseconds: 301_000)
        return s
    }

    /// The alert-latency histograms read an alert's event time from its JSON without parsing it.
    @Test func alertEventTimeIsReadFromTheMessage() {
        let alert = #"{"schema":"tokenwatch.alert.v1","alert_id":"a-ts-1","ts":1795555200123,"user_id":"u","rule":"x"}"#
        #expect(PipelineControl.eventTime(ofAlert: Array(alert.utf8)) == 1_795_555_200_123)
        #expect(PipelineControl.eventTime(ofAlert: Array(#"{"ts":"no"}"#.utf8)) == nil)
        #expect(PipelineControl.eventTime(ofAlert: []) == nil)
    }

    @Test("every line is a comment or name{labels} value; figures are where they should be")
    func wellFormed() throws {
        let counters = ServiceCounters()
        counters.reloadsApplied.add(2, ordering: .relaxed)
        let text = PrometheusText.render(status: Self.sampleStatus(), counters: counters, nowMs: 1_795_555_200_000 + 65_000)
        let samples = try parsePrometheus(text)
        #expect(samples.value("tokenwatch_ready") == 1)
        #expect(samples.value("tokenwatch_events_total", ["result": "counted"]) == 1_000)
        #expect(samples.value("tokenwatch_events_total", ["result": "duplicate"]) == 34)
        #expect(samples.value("tokenwatch_dead_letters_total", ["reason": "missing_field:user_id"]) == 3)
        #expect(samples.value("tokenwatch_dead_letters_total", ["reason": "weird \"reason\"\\\n"]) == 1)
        #expect(samples.value("tokenwatch_consumer_lag_messages", ["partition": "0"]) == 10)
        #expect(samples.value("tokenwatch_watermark_delay_seconds") == 65)
        // The partition holding the watermark back shows: 60 s behind the wall clock, the other 5 s.
        #expect(samples.value("tokenwatch_partition_event_time_delay_seconds", ["partition": "0"]) == 5)
        #expect(samples.value("tokenwatch_partition_event_time_delay_seconds", ["partition": "3"]) == 60)
        #expect(samples.value("tokenwatch_checkpoint_age_seconds") == 75)
        #expect(samples.value("tokenwatch_outputs_in_flight") == 7)
        #expect(samples.value("tokenwatch_tracked_users") == 42)
        #expect(samples.value("tokenwatch_users_released_total") == 17)
        #expect(samples.value("tokenwatch_window_active_users", ["window": "24h"]) == 40)
        #expect(samples.value("tokenwatch_alerts_total", ["rule": "machine_cadence"]) == 2)
        #expect(samples.value("tokenwatch_alert_emit_to_ack_seconds_bucket", ["le": "0.025"]) == 1)
        #expect(samples.value("tokenwatch_alert_emit_to_ack_seconds_bucket", ["le": "0.01"]) == 0)
        #expect(samples.value("tokenwatch_alert_event_to_ack_seconds_bucket", ["le": "300"]) == 0)
        #expect(samples.value("tokenwatch_alert_event_to_ack_seconds_count") == 1)
        #expect(samples.value("tokenwatch_reloads_total", ["result": "applied"]) == 2)
        // Histogram: cumulative buckets ending in +Inf == count.
        let buckets = samples.filter { $0.name == "tokenwatch_processing_latency_seconds_bucket" }
        #expect(buckets.count == LatencyHistogram.bounds.count + 1)
        #expect(zip(buckets, buckets.dropFirst()).allSatisfy { $0.value <= $1.value })
        #expect(buckets.last?.labels["le"] == "+Inf")
        #expect(buckets.last?.value == 6)
        #expect(samples.value("tokenwatch_processing_latency_seconds_bucket", ["le": "0.001"]) == 1)
        #expect(samples.value("tokenwatch_processing_latency_seconds_bucket", ["le": "0.005"]) == 2)
        #expect(samples.value("tokenwatch_processing_latency_seconds_bucket", ["le": "300"]) == 5)
        #expect(samples.value("tokenwatch_processing_latency_seconds_count") == 6)
        #expect(samples.value("tokenwatch_processing_latency_seconds_sum") == 1_004.943)
    }

    @Test("an alert's event-to-ack histogram starts at allowed_lateness: fine buckets past it, then one snapshot interval and a second more")
    func eventToAckBucketsStartAtTheLateness() throws {
        let bounds = LatencyHistogram.bounds(after: 300, coarseSeconds: 60)
        #expect(bounds.first == 300)
        #expect(bounds.contains(301) && bounds.contains(360) && bounds.contains(361))
        #expect(zip(bounds, bounds.dropFirst()).allSatisfy { $0 < $1 })
        var status = PipelineStatus()
        status.alertEventToAck = LatencyHistogram(bounds: bounds)
        status.alertEventToAck.observe(milliseconds: 300_400)  // acknowledged 0.4 s after the lateness allowance
        status.alertEventToAck.observe(milliseconds: 365_000)  // past allowance + interval + 1 s
        let samples = try parsePrometheus(PrometheusText.render(status: status, counters: ServiceCounters()))
        #expect(samples.value("tokenwatch_alert_event_to_ack_seconds_bucket", ["le": "300.25"]) == 0)
        #expect(samples.value("tokenwatch_alert_event_to_ack_seconds_bucket", ["le": "300.5"]) == 1)
        #expect(samples.value("tokenwatch_alert_event_to_ack_seconds_bucket", ["le": "361"]) == 1)
        #expect(samples.value("tokenwatch_alert_event_to_ack_seconds_bucket", ["le": "+Inf"]) == 2)
        #expect(samples.filter { $0.name == "tokenwatch_alert_event_to_ack_seconds_bucket" }.count == bounds.count + 1)
    }

    @Test("a fresh status renders too (no watermark, no checkpoint yet)")
    func empty() throws {
        let samples = try parsePrometheus(PrometheusText.render(status: PipelineStatus(), counters: ServiceCounters()))
        #expect(samples.value("tokenwatch_ready") == 0)
        #expect(samples.value("tokenwatch_watermark_delay_seconds") == nil)
        #expect(samples.value("tokenwatch_processing_latency_seconds_count") == 0)
    }

    @Test("tokenwatch_build_info names the version and commit the binary was built from")
    func buildInfo() throws {
        let samples = try parsePrometheus(PrometheusText.render(status: PipelineStatus(), counters: ServiceCounters()))
        let info = samples.filter { $0.name == "tokenwatch_build_info" }
        #expect(info.count == 1)
        #expect(info.first?.value == 1)
        #expect(info.first?.labels == ["version": BuildInfo.version, "commit": BuildInfo.commit])
        #expect(!BuildInfo.commit.isEmpty)
    }

    @Test("the test parser rejects what is not the text format")
    func parserIsStrict() {
        #expect(throws: TestFailure.self) { try parsePrometheus("tokenwatch_x 1 2 3\n") }
        #expect(throws: TestFailure.self) { try parsePrometheus("9bad 1\n") }
        #expect(throws: TestFailure.self) { try parsePrometheus("x{a=\"b} 1\n") }
        #expect(throws: TestFailure.self) { try parsePrometheus("x{a=b} 1\n") }
        #expect(throws: TestFailure.self) { try parsePrometheus("x one\n") }
        #expect(throws: TestFailure.self) { try parsePrometheus("# TYPE x countr\n") }
        #expect((try? parsePrometheus("# just a comment\nx{a=\"1\",b=\"\\\"\"} +Inf\ny 2 1700000000000\n"))?.count == 2)
    }

    @Test("alert rule names are read from the alert JSON")
    func ruleName() {
        let json = Array(#"{"schema":"tokenwatch.alert.v1","alert_id":"x","rule":"low_yield","severity":"warning"}"#.utf8)
        #expect(PipelineControl.ruleName(ofAlert: json) == "low_yield")
        #expect(PipelineControl.ruleName(ofAlert: Array("{}".utf8)) == "unknown")
    }
}
