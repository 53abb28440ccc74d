import Foundation
import Testing
@testable import TokenwatchCore

/// OTLP Sum metrics made by the OpenTelemetry Python SDK (Tests/Fixtures/otlp/make_metric_fixtures.py).
@Suite("OTLP metrics: cumulative to delta per series, resets detected, deltas summed")
struct OTLPMetricsTests {
    static func requests() throws -> [[UInt8]] {
        let expected = try JSONSerialization.jsonObject(with: Data(OTLPFixture.bytes("metrics/expected.json"))) as! [String: Any]
        let n = (expected["requests"] as! NSNumber).intValue
        return try (0..<n).map { try OTLPFixture.bytes(String(format: "metrics/%02d.pb", $0)) }
    }

    static func totals() throws -> [String: Double] {
        var deltas = MetricDeltas()
        var totals: [String: Double] = [:]
        for request in try requests() {
            let points = try request.withUnsafeBytes { raw in try Result { () throws(OTLPError) in try OTLPProtobufMetrics.points(raw) }.get() }
            for p in points {
                let type = p.attributes[.metricType]?.text.map { "|" + $0 } ?? ""
                totals[p.name + type, default: 0] += deltas.delta(of: p)
            }
        }
        return totals
    }

    @Test func cumulativeWithResetsAndDeltaCountersGiveTheRightTotals() throws {
        let expected = try JSONSerialization.jsonObject(with: Data(OTLPFixture.bytes("metrics/expected.json"))) as! [String: Any]
        let want = (expected["totals"] as! [String: NSNumber]).mapValues(\.doubleValue)
        #expect(try Self.totals() == want)
    }

    @Test func aCumulativeCounterResetMidSeries() {
        var d = MetricDeltas()
        func point(_ start: UInt64, _ time: UInt64, _ value: Double, _ t: OTLPMetricPoint.Temporality = .cumulative) -> OTLPMetricPoint {
            var p = OTLPMetricPoint(name: "claude_code.commit.count")
            p.series = 1
            p.startTimeUnixNano = start; p.timeUnixNano = time; p.value = value; p.temporality = t
            return p
        }
        // 22 commits with a reset in the middle, not the thousands Prometheus' increase() once read.
        let readings = [point(1, 10, 10), point(1, 20, 15), point(1, 30, 3), point(1, 40, 7), point(1, 40, 7), point(1, 35, 15)]
        #expect(readings.map { d.delta(of: $0) } == [10, 5, 3, 4, 0, 0])
        #expect(d.resets == 1)
        // A delta counter is summed as it comes.
        #expect([point(0, 1, 2, .delta), point(0, 1, 2, .delta)].map { d.delta(of: $0) } == [2, 2])
    }

    @Test func signalIsDetected() throws {
        try #expect(OTLPFixture.bytes("metrics/00.pb").withUnsafeBytes { OTLPSignal.detect($0) } == .metrics)
        try #expect(OTLPFixture.bytes("people.pb").withUnsafeBytes { OTLPSignal.detect($0) } == .logs)
        try #expect(OTLPFixture.bytes("people.json").withUnsafeBytes { OTLPSignal.detect($0) } == .logs)
        #expect(Array(#"{"resourceMetrics":[]}"#.utf8).withUnsafeBytes { OTLPSignal.detect($0) } == .metrics)
        #expect(Array(#"{"resourceSpans":[]}"#.utf8).withUnsafeBytes { OTLPSignal.detect($0) } == .traces)
    }

    @Test func everyTruncationOfAMetricsRequestIsAnErrorNotACrash() throws {
        let bytes = try OTLPFixture.bytes("metrics/01.pb")
        for n in 0..<bytes.count {
            let prefix = Array(bytes.prefix(n))
            _ = prefix.withUnsafeBytes { raw in try? Result { () throws(OTLPError) in try OTLPProtobufMetrics.points(raw) }.get() }
        }
    }
}

@Suite("OTLP metrics and traces on an otlp input")
struct OTLPSignalsTests {
    @Test func metricsAreCountedNextToLogsAndTraces() throws {
        var engine = OTLPFixture.engine()
        #expect(engine.feedOTLP(try OTLPFixture.bytes("people.pb"), offset: 0).counted == 5)
        let metrics = engine.feedOTLP(try OTLPFixture.bytes("metrics/00.pb"), offset: 3)
        // commit.count is an outcome (one event); token.usage is read and not counted (the logs carry tokens).
        #expect(metrics.deadLetters.isEmpty && metrics.counted == 1 && metrics.skipped == 2)
        #expect(engine.feedOTLP(Array(#"{"resourceSpans":[]}"#.utf8), offset: 4).deadLetters == [.otlp(.emptyBatch)])
        #expect(engine.feedOTLP(Array(#"{"resourceMetrics":[]}"#.utf8), offset: 5).deadLetters == [.otlp(.emptyBatch)])
    }
}
