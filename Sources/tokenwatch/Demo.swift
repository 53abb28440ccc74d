import ArgumentParser
import Foundation
import Kafka
import Logging
import ServiceLifecycle
import TokenwatchConfig
import TokenwatchCore
import TokenwatchService

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Dev broker + synthetic traffic + daemon in one process, with a live view of the leaderboard.")

    @Option(help: "Seconds to run (0 = until Ctrl-C).") var duration: Double = 60
    @Option(help: "Synthetic users.") var users = 300
    @Option(help: "Events per second.") var rate: Double = 3000
    @Option(help: "Port for the embedded broker (0 = any free port).") var port: UInt16 = 0

    func run() async throws {
        let logger = makeLogger("tokenwatch.demo")
        let quiet = { var l = logger; l.logLevel = .warning; return l }()
        var config = TokenwatchConfiguration()
        let stateDir = FileManager.default.temporaryDirectory.appendingPathComponent("tokenwatch-demo-\(getpid())").path
        let k = config.kafka
        let broker = try TokenwatchService.DevBroker(port: port, partitions: 8,
                                                     topics: [k.inputTopic, k.leaderboardTopic, k.alertsTopic, k.deadletterTopic,
                                                              k.internalTopicPrefix + "leader"],
                                                     logger: quiet)
        config.kafka.brokers = broker.bootstrap
        var settings = pipelineSettings(config, stateDirectory: stateDir)
        settings.checkpointIntervalMs = 5_000
        let pipeline = Pipeline(settings: settings, logger: quiet)
        print("tokenwatch demo: broker on \(broker.bootstrap); \(users) users, \(Int(rate)) events/s; Ctrl-C to stop")

        // Three hours of event time replayed at 60x, ending near now, so boards appear within seconds.
        let seconds = duration > 0 ? duration : 3600
        let total = Int(seconds * rate)
        let spanMs = Int64(seconds * 60_000)
        let startMs = WallClock.nowMs() - spanMs
        let producerThread = Thread { [users, rate] in
            var traffic = SyntheticTraffic(users: users, seed: 42)
            guard let producer = try? KafkaProducer(configuration: ["bootstrap.servers": broker.bootstrap], logger: quiet) else { return }
            let began = WallClock.monotonicMs()
            for i in 0..<total {
                let elapsed = Double(WallClock.monotonicMs() - began) / 1000
                if Double(i) > elapsed * rate { usleep(2_000) }
                let (key, value) = traffic.next(ts: startMs + Int64(Double(spanMs) * Double(i) / Double(total)))
                while (try? producer.produce(topic: k.inputTopic, key: Array(key.utf8), value: value, token: UInt64(i))) == nil {
                    _ = producer.pollDeliveries(timeout: .milliseconds(10))
                }
                if i % 1000 == 0 { _ = producer.pollDeliveries(timeout: .zero) }
            }
            _ = producer.flush(timeout: .seconds(10))
        }
        producerThread.start()

        let viewer = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(5))
                let boards = (try? BoardReader.latestBoards(brokers: broker.bootstrap, topic: k.leaderboardTopic, logger: quiet, timeout: .seconds(5))) ?? [:]
                let status = pipeline.status
                print("\u{1B}[2J\u{1B}[H", terminator: "")
                print("tokenwatch demo — consumed \(status.consumed) events, \(status.counters.deadLetterTotal) dead letters, watermark \(status.watermark.map(RFC3339.format) ?? "-")")
                if let board = boards["1h|global"] {
                    print(BoardReader.table(board))
                } else {
                    print("(waiting for the first snapshot)")
                }
                let teams = boards.keys.filter { $0.hasPrefix("1h|team:") }.sorted()
                print("\nteam boards: \(teams.map { String($0.dropFirst(3)) }.joined(separator: ", "))")
                // The newest alert of each user, newest first (the alerts topic is keyed by user id).
                let alerts = (try? BoardReader.latestBoards(brokers: broker.bootstrap, topic: k.alertsTopic, logger: quiet, timeout: .seconds(5))) ?? [:]
                let recent = alerts.values.sorted { (($0["ts"] as? NSNumber)?.int64Value ?? 0) > (($1["ts"] as? NSNumber)?.int64Value ?? 0) }.prefix(5)
                print("\nalerts (\(alerts.count) users): " + (recent.isEmpty ? "none yet" : ""))
                for a in recent {
                    print("  \(Alerts.line(a, ts: (a["ts"] as? NSNumber)?.int64Value ?? 0))")
                }
            }
        }
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: PipelineService(pipeline: pipeline))],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: quiet))
        let stopper = Task {
            try await Task.sleep(for: .seconds(seconds))
            // Through the group, so the pipeline drains like on SIGTERM and the group ends cleanly.
            await group.triggerGracefulShutdown()
        }
        try await group.run()
        stopper.cancel()
        viewer.cancel()
        let status = pipeline.status
        print("demo finished: consumed \(status.consumed) events; \(status.counters.snapshots) snapshot times published")
        withExtendedLifetime(broker) {}
    }
}
