import Testing
import TokenwatchConfig
import TokenwatchCore
@testable import TokenwatchService

@Suite("Input topics ↔ engine partition ids, recorded in the checkpoint header")
struct InputTopicsTests {
    static let two = InputTopics([InputSettings(topic: "ai-usage"), InputSettings(topic: "otel-logs", format: .otlp)], counts: [3, 2])

    @Test func denseIdsInListOrder() throws {
        let t = Self.two
        #expect(t.totalPartitions == 5)
        #expect(t.engineId(topic: "ai-usage", partition: 2) == 2)
        #expect(t.engineId(topic: "otel-logs", partition: 0) == 3)
        #expect(t.engineId(topic: "otel-logs", partition: 2) == nil)
        #expect(t.engineId(topic: "other", partition: 0) == nil)
        #expect(t.source(of: 4) == PartitionSource(topic: "otel-logs", partition: 1))
        #expect(t.source(of: 5) == nil)
        #expect(t.sources.count == 5)
        for id in Int32(0)..<5 {
            let s = try #require(t.source(of: id))
            #expect(t.engineId(topic: s.topic, partition: s.partition) == id)
        }
    }

    @Test func headerRoundTrip() throws {
        let identity = StateIdentity(clusterId: "c", groupId: "g", inputs: Self.two)
        let file = CheckpointFile.encode(identity, engineBytes: [1, 2, 3])
        let back = try CheckpointFile.decode(file)
        #expect(back.identity == identity)
        #expect(back.engineBytes == [1, 2, 3])
        // An older daemon reads input_topic: the joined names are no topic it has, so it refuses the file.
        #expect(String(decoding: file, as: UTF8.self).contains("input_topic=ai-usage+otel-logs\n"))
    }

    @Test func oneNativeInputWritesTheOldHeader() throws {
        let identity = StateIdentity(clusterId: "c", groupId: "g", inputTopic: "ai-usage", partitions: 8)
        let text = String(decoding: CheckpointFile.encode(identity, engineBytes: []), as: UTF8.self)
        #expect(!text.contains("inputs="))
        #expect(try CheckpointFile.decode(Array(text.utf8)).identity.inputs == InputTopics([InputSettings(topic: "ai-usage")], counts: [8]))
    }

    @Test func otherInputsRebuildOtherDeploymentsRefuse() throws {
        let single = StateIdentity(clusterId: "c", groupId: "g", inputTopic: "ai-usage", partitions: 3)
        let both = StateIdentity(clusterId: "c", groupId: "g", inputs: Self.two)
        #expect(try both.rebuildReason(restoring: both, path: "p") == nil)
        #expect(try single.rebuildReason(restoring: single, path: "p") == nil)
        // A topic added: same deployment, other partition numbering.
        #expect(try both.rebuildReason(restoring: single, path: "p") != nil)
        #expect(try single.rebuildReason(restoring: both, path: "p") != nil)
        let repartitioned = StateIdentity(clusterId: "c", groupId: "g", inputTopic: "ai-usage", partitions: 4)
        #expect(try single.rebuildReason(restoring: repartitioned, path: "p") == "the input topic had 4 partitions, now 3")
        let elsewhere = StateIdentity(clusterId: "c", groupId: "g", inputTopic: "other", partitions: 3)
        #expect(throws: PipelineRefusal.self) { try single.rebuildReason(restoring: elsewhere, path: "p") }
        let otherGroup = StateIdentity(clusterId: "c", groupId: "h", inputs: Self.two)
        #expect(throws: PipelineRefusal.self) { try both.rebuildReason(restoring: otherGroup, path: "p") }
    }

    @Test func deadLettersNameTheInputTopicAndPartition() throws {
        var engine = Engine(configuration: EngineConfiguration())
        engine.partitionSources = Self.two.sources
        let bad = Array("not json".utf8)
        bad.withUnsafeBytes { _ = engine.process($0, partition: 4, offset: 7) }
        let record = try #require(engine.takeOutputs().first)
        let text = String(decoding: record.value, as: UTF8.self)
        #expect(text.contains("\"topic\":\"otel-logs\",\"partition\":1,\"offset\":7"))
    }
}
