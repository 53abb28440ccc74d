import Testing
import TokenwatchCore
@testable import TokenwatchService

@Suite("Input metrics: lag by topic with several inputs, attribution by tool")
struct InputMetricsTests {
    @Test func lagNamesTheTopicOnlyWithSeveralInputs() {
        var s = PipelineStatus()
        s.inputSources = [PartitionSource(topic: "ai-usage", partition: 0), PartitionSource(topic: "ai-usage", partition: 1),
                          PartitionSource(topic: "otel-logs", partition: 0)]
        s.lag = [1: 4, 2: 5]
        let text = PrometheusText.render(status: s, counters: ServiceCounters())
        #expect(text.contains(#"tokenwatch_consumer_lag_messages{topic="otel-logs",partition="0"} 5"#))
        #expect(text.contains(#"tokenwatch_consumer_lag_messages{topic="ai-usage",partition="1"} 4"#))
        s.inputSources = Array(s.inputSources.prefix(2))
        s.lag = [1: 4]
        #expect(PrometheusText.render(status: s, counters: ServiceCounters()).contains(#"tokenwatch_consumer_lag_messages{partition="1"} 4"#))
    }

    @Test func attributionByToolWithoutUsers() {
        var s = PipelineStatus()
        s.attribution = ["codex": ToolAttribution(attributed: 3, unattributed: 1, unattributedTokens: 40)]
        let text = PrometheusText.render(status: s, counters: ServiceCounters())
        #expect(text.contains(#"tokenwatch_unattributed_events_total{tool="codex"} 1"#))
        #expect(text.contains(#"tokenwatch_unattributed_tokens_total{tool="codex"} 40"#))
        #expect(text.contains(#"tokenwatch_attribution_coverage{tool="codex"} 0.75"#))
    }
}
