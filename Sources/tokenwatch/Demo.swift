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
        abstract: "Dev broker + synthetic traffic + daemon in one process, with a live view of the leaderboard and alerts.",
        discussion: """
        The traffic is the mixed population: ordinary developers, legitimate heavy users, service accounts and \
        one gaming persona per rule. Event time runs --speed times faster than the clock (one simulated day every \
        30 s by default) and ends near now, so windows slide and alerts arrive within seconds. The view fits 80×24; \
        it redraws in place on a terminal (colour unless NO_COLOR is set) and prints plain frames otherwise. The \
        dashboard is served at the printed address. Nothing is left on disk.
        """)

    @Option(help: "Seconds to run (0 = until Ctrl-C).") var duration: Double = 60
    @Option(help: "Synthetic users.") var users = 120
    @Option(help: "Event time per wall-clock time.") var speed: Double = 2_880
    @Option(help: "Port for the embedded broker (0 = any free port).") var port: UInt16 = 0
    @Option(help: "Address of the dashboard (port 0 = any free port).") var http = "127.0.0.1:0"

    func validate() throws {
        if duration < 0 { throw ValidationError("--duration must be 0 (until Ctrl-C) or more") }
        if speed < 1 { throw ValidationError("--speed must be at least 1") }
        if users < 10 { throw ValidationError("--users must be at least 10 (the mixed population needs room for its personas)") }
    }

    func run() async throws {
        let logger = makeLogger("tokenwatch.demo")
        let quiet = { var l = logger; l.logLevel = .warning; return l }()
        var config = TokenwatchConfiguration()
        // Fifteen minutes of event time per snapshot: a board every 0.3 s at the default speed.
        config.leaderboard.snapshotIntervalMs = 900_000
        // Ranked by raw tokens, so the gamers' inflated usage shows at the top next to what is left of it.
        config.leaderboard.rankBy = .tokens
        let stateDir = FileManager.default.temporaryDirectory.appendingPathComponent("tokenwatch-demo-\(getpid())").path
        defer { try? FileManager.default.removeItem(atPath: stateDir) }
        let k = config.kafka
        let broker = try TokenwatchService.DevBroker(port: port, partitions: 8,
                                                     topics: [k.inputTopic, k.leaderboardTopic, k.alertsTopic, k.deadletterTopic,
                                                              k.internalTopicPrefix + "changelog"],
                                                     singlePartition: [k.internalTopicPrefix + "leader"], logger: quiet)
        config.kafka.brokers = broker.bootstrap
        var settings = pipelineSettings(config, stateDirectory: stateDir)
        settings.checkpointIntervalMs = 5_000
        let pipeline = Pipeline(settings: settings, logger: quiet)
        pipeline.events.setMeta(DashboardPage.meta(config))
        let routes = HTTPRoutes(pipeline: pipeline, counters: ServiceCounters(), bearerToken: nil, windows: config.windows.map(\.name))
        let (host, httpPort) = try Self.split(http)
        let server = try HTTPServer(host: host, port: httpPort, logger: quiet, handler: { routes.handle($0) })

        let traffic = try DemoTraffic(brokers: broker.bootstrap, topic: k.inputTopic, users: users, speed: speed,
                                      duration: duration, logger: quiet)
        let view = DemoView(pipeline: pipeline, target: config.leaderboard.adoptionTarget, dashboard: "http://\(server.boundAddress)/")
        view.banner("tokenwatch demo: broker \(broker.bootstrap), dashboard http://\(server.boundAddress)/ · "
                    + "\(users) people, event time ×\(Int(speed)) · Ctrl-C to stop")
        traffic.start()
        let viewer = Task { await view.run() }
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: HTTPService(server: server, logger: quiet, events: pipeline.events)),
                       .init(service: PipelineService(pipeline: pipeline))],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: quiet))
        let stopper = Task {
            guard duration > 0 else { return }
            try await Task.sleep(for: .seconds(duration))
            // Through the group, so the pipeline drains like on SIGTERM and the group ends cleanly.
            await group.triggerGracefulShutdown()
        }
        try await group.run()
        stopper.cancel()
        viewer.cancel()
        traffic.stop()
        let status = pipeline.status
        print("demo finished: \(status.consumed) events, \(status.counters.snapshots) snapshot times, "
              + "\(status.alertsByRule.values.reduce(0, +)) alert messages")
        withExtendedLifetime(broker) {}
    }

    static func split(_ address: String) throws -> (String, Int) {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else {
            throw ValidationError("--http '\(address)' is not host:port")
        }
        return (String(address[..<colon]), port)
    }
}
