import Foundation
import Testing
import TokenwatchConfig
import TokenwatchCore
@testable import TokenwatchService

@Suite("Reload: what applies, what waits for a restart, and state is kept")
struct ReloadTests {
    @Test("reloadable keys apply; restart-only keys are listed and kept as they run")
    func plan() throws {
        let old = try ConfigurationLoader.load(yaml: "leaderboard:\n  top_k: 5\n", source: "old.yaml")
        let new = try ConfigurationLoader.load(yaml: """
            kafka:
              brokers: "other:9092"
              librdkafka:
                sasl.username: someone
            windows: ["1h@1m"]
            engine:
              idle_timeout: 90s
            leaderboard:
              top_k: 2
              rank_by: tokens
            service_accounts:
              patterns: ["robot-*"]
            rules:
              volume_spike:
                enabled: false
            """, source: "new.yaml")
        let plan = ReloadPlan.make(old: old, new: new)
        #expect(plan.applied.contains("leaderboard.top_k: 5 → 2"))
        #expect(plan.applied.contains("leaderboard.rank_by: effective_tokens → tokens"))
        #expect(plan.applied.contains { $0.hasPrefix("service_accounts.patterns") })
        #expect(plan.applied.contains("rules.volume_spike"))
        #expect(plan.ignored.contains { $0.hasPrefix("kafka.brokers") })
        #expect(plan.ignored.contains("kafka.librdkafka.sasl.username"))  // named, value not shown
        #expect(plan.ignored.contains { $0.hasPrefix("windows") })
        #expect(plan.ignored.contains("engine.idle_timeout: 30s → 1m30s"), "durations read as written: \(plan.ignored)")
        #expect(plan.effective.leaderboard.topK == 2)
        #expect(plan.effective.kafka == old.kafka)
        #expect(plan.effective.windows == old.windows)
        #expect(plan.effective.rules["volume_spike"]?.enabled == false)
    }

    @Test("SIGHUP re-reads the identities and roster files (same paths, new content); inputs wait for a restart")
    func peopleFilesReload() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tw-reload-people-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let ids = dir.appendingPathComponent("ids.csv"), roster = dir.appendingPathComponent("roster.csv")
        let yaml = "identities:\n  file: \(ids.path)\nroster:\n  file: \(roster.path)\n"
        try Data("person,email\nalice,a@x\n".utf8).write(to: ids)
        try Data("person,team\nalice,t\n".utf8).write(to: roster)
        let old = try ConfigurationLoader.load(yaml: yaml, source: "old.yaml")
        try Data("person,email\nalice,a@x\nbob,b@x\n".utf8).write(to: ids)
        try Data("person,team\nalice,t\nbob,t\n".utf8).write(to: roster)
        let new = try ConfigurationLoader.load(yaml: yaml + "inputs: [{topic: other, format: otlp}]\n", source: "new.yaml")
        let plan = ReloadPlan.make(old: old, new: new)
        #expect(plan.applied.contains("identities (the file's aliases)") && plan.applied.contains("roster (the file's people)"))
        #expect(plan.effective.engine.identities.resolve(.email, "b@x")?.person == "bob")
        #expect(plan.effective.engine.roster?.count == 2)
        #expect(plan.ignored.contains { $0.hasPrefix("inputs") } && plan.effective.inputs.isEmpty)
    }

    static func event(_ id: String, user: String, ts: Int64, tokens: Int) -> [UInt8] {
        Array(#"{"event_id":"\#(id)","ts":\#(ts),"user_id":"\#(user)","team":"t","input_tokens":\#(tokens),"output_tokens":0}"#.utf8)
    }

    static func boards(_ records: [OutputRecord]) -> [[String: Any]] {
        records.filter { $0.kind == .leaderboard }.compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.value)) as? [String: Any]
        }
    }

    @Test("the engine adopts top_k and rank_by with counts intact, and refuses structural changes")
    func engineReconfigure() throws {
        var config = EngineConfiguration()
        config.windows = [WindowSpec(name: "1h", lengthMs: 3_600_000, stepMs: 60_000)]
        config.allowedLatenessMs = 0
        config.topK = 5
        var engine = Engine(configuration: config)
        engine.assign(partitions: [0])
        let t0: Int64 = 1_795_555_200_000
        var offset: Int64 = 0
        func feed(_ user: String, _ ts: Int64, _ tokens: Int) {
            Self.event("e\(offset)", user: user, ts: ts, tokens: tokens).withUnsafeBytes {
                _ = engine.process($0, partition: 0, offset: offset)
            }
            offset += 1
        }
        for i in 1...8 { feed("u\(i)", t0 + Int64(i) * 1_000, i * 1_000) }
        feed("mover", t0 + 60_001, 1)
        engine.emitDueSnapshots()
        let before = try #require(Self.boards(engine.takeOutputs()).last)
        #expect((before["entries"] as? [[String: Any]])?.count == 5)

        var reloaded = config
        reloaded.topK = 2
        try engine.reconfigure(reloaded)
        feed("mover", t0 + 120_001, 1)
        engine.emitDueSnapshots()
        let after = try #require(Self.boards(engine.takeOutputs()).last)
        let entries = try #require(after["entries"] as? [[String: Any]])
        #expect(entries.count == 2)
        #expect(entries.map { $0["user_id"] as? String } == ["u8", "u7"])
        #expect(entries.map { $0["tokens"] as? Int } == [8_000, 7_000])
        #expect(engine.userSummary("u3")?.windows.first?.tokens == 3_000)
        #expect(engine.userSummary("nobody") == nil)

        var structural = reloaded
        structural.windows = EngineConfiguration.defaultWindows
        structural.allowedLatenessMs = 1
        #expect(throws: ReconfigureError(fields: ["windows", "allowed_lateness"])) { try engine.reconfigure(structural) }
        #expect(engine.configuration.topK == 2)
    }

    @Test("new service-account patterns decide for later events")
    func servicePatterns() throws {
        var config = EngineConfiguration()
        config.serviceAccountPatterns = []
        var engine = Engine(configuration: config)
        let t0: Int64 = 1_795_555_200_000
        let first = Self.event("a", user: "robot-1", ts: t0, tokens: 10).withUnsafeBytes { engine.process($0, partition: 0, offset: 0) }
        #expect(first == .counted)
        var reloaded = config
        reloaded.serviceAccountPatterns = ["robot-*"]
        try engine.reconfigure(reloaded)
        let second = Self.event("b", user: "robot-1", ts: t0 + 1, tokens: 10).withUnsafeBytes { engine.process($0, partition: 0, offset: 1) }
        #expect(second == .service)
        #expect(engine.userSummary("robot-1")?.isServiceAccount == true)
    }

    @Test("secrets do not show in descriptions of the configuration")
    func redaction() throws {
        let config = try ConfigurationLoader.load(
            yaml: "", source: "x.yaml",
            environment: ["TOKENWATCH_KAFKA_LIBRDKAFKA_SASL_PASSWORD": "CANARY-1", "TOKENWATCH_HTTP_BEARER_TOKEN": "CANARY-2"])
        #expect(config.kafka.librdkafka["sasl.password"] == "CANARY-1")
        var dumped = ""
        dump(config, to: &dumped)
        for text in ["\(config)", String(reflecting: config), dumped, "\(config.kafka)", "\(config.http)"] {
            #expect(!text.contains("CANARY"), "\(text)")
        }
    }
}
