import Foundation
import Logging
import ServiceLifecycle
import TokenwatchConfig
import UnixSignals

/// Assembles `tokenwatch run`: the pipeline with HTTP, systemd notification and SIGHUP reload around it.
public enum ProductionServices {
    /// The daemon's service group. Services start in this order and shut down in reverse, so on
    /// SIGTERM the pipeline drains first (systemd hears `STOPPING=1` at once), while HTTP and the
    /// watchdog stay up until it has flushed, checkpointed and committed.
    /// Throws when the HTTP address cannot be bound.
    public static func group(
        configuration: TokenwatchConfiguration,
        pipeline: Pipeline,
        logger: Logger,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        reload: @escaping ReloadService.Loader
    ) throws(HTTPServerError) -> ServiceGroup {
        let notifier = SystemdNotifier(environment: environment)
        let counters = ServiceCounters()
        let routes = HTTPRoutes(pipeline: pipeline, counters: counters, bearerToken: configuration.http.bearerToken,
                                windows: configuration.windows.map(\.name))
        pipeline.events.setMeta(DashboardPage.meta(configuration))
        let server = try HTTPServer(host: configuration.http.host, port: configuration.http.port, logger: logger,
                                    handler: { routes.handle($0) })
        var webhooks: [any Service] = []
        if !configuration.alerting.webhooks.isEmpty {
            let dispatcher = WebhookDispatcher(webhooks: configuration.alerting.webhooks,
                                               stateDirectory: pipeline.settings.stateDirectory, environment: environment, logger: logger)
            pipeline.events.onAlert { dispatcher.submit($0) }
            webhooks.append(WebhookService(dispatcher: dispatcher))
        }
        let services: [any Service] = webhooks + [
            SystemdService(notifier: notifier, pipeline: pipeline, logger: logger),
            HTTPService(server: server, logger: logger, events: pipeline.events),
            ReloadService(initial: configuration, load: reload, pipeline: pipeline, notifier: notifier,
                          counters: counters, logger: logger),
            PipelineService(pipeline: pipeline),
        ]
        return ServiceGroup(configuration: .init(
            services: services.map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
    }
}

// Short names in swift-service-lifecycle's logs (it logs each service's description), instead of a
// dump of everything a service holds.
extension SystemdService: CustomStringConvertible {
    public var description: String { "SystemdService(\(notifier?.socketPath ?? "no NOTIFY_SOCKET"))" }
}

extension HTTPService: CustomStringConvertible {
    public var description: String { "HTTPService(\(server.boundAddress))" }
}

extension ReloadService: CustomStringConvertible {
    public var description: String { "ReloadService(SIGHUP)" }
}

extension PipelineService: CustomStringConvertible {
    public var description: String { "PipelineService(\(pipeline.settings.inputTopic))" }
}
