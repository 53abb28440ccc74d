import Logging
import ServiceLifecycle
import Synchronization
import TokenwatchCore

/// The daemon's HTTP API: `/healthz`, `/readyz`, `/metrics`, `/leaderboard?window=&scope=`, `/users/<id>`,
/// the dashboard `/` and its Server-Sent-Event stream `/events`.
///
/// With a bearer token configured, every path but `/healthz` and `/readyz` needs
/// `Authorization: Bearer <token>` (probes stay usable by systemd and load balancers without the secret).
/// A browser cannot set that header on a page load or an `EventSource`, so `?access_token=<token>` is
/// accepted too (the dashboard passes on the token it was opened with).
public final class HTTPRoutes: Sendable {
    let pipeline: Pipeline
    let counters: ServiceCounters
    private let bearerToken: [UInt8]?
    /// Window names in configuration order; the first is the default of `/leaderboard`.
    let windows: [String]
    /// A loop whose heartbeat has not moved for this long is reported dead by `/healthz`.
    let stallAfterMs: Int64
    private let lastBeat = Mutex<(beat: UInt64, atMs: Int64)>((0, WallClock.monotonicMs()))

    public init(pipeline: Pipeline, counters: ServiceCounters, bearerToken: String?, windows: [String],
                stallAfter: Duration = .seconds(60)) {
        self.pipeline = pipeline
        self.counters = counters
        self.bearerToken = bearerToken.map { Array($0.utf8) }
        self.windows = windows
        self.stallAfterMs = stallAfter.components.seconds * 1000
    }

    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        counters.httpRequests.add(1, ordering: .relaxed)
        switch request.path {
        case "/healthz": return healthz()
        case "/readyz": return readyz()
        default: break
        }
        if let token = bearerToken, !Self.authorized(request.headers["authorization"], token: token),
           !Self.authorized(request.query["access_token"].map { "Bearer " + $0 }, token: token) {
            counters.httpUnauthorized.add(1, ordering: .relaxed)
            return .text(401, "unauthorized: send Authorization: Bearer <token>", headers: [("WWW-Authenticate", "Bearer")])
        }
        if request.path == "/metrics" {
            let text = PrometheusText.render(status: pipeline.status, counters: counters)
            return HTTPResponse(status: 200, contentType: PrometheusText.contentType, body: Array(text.utf8))
        }
        if request.path == "/leaderboard" { return leaderboard(request) }
        if request.path == "/" || request.path == "/index.html" {
            return HTTPResponse(status: 200, contentType: "text/html; charset=utf-8", body: DashboardPage.html)
        }
        if request.path == "/events" { return events() }
        if request.path.hasPrefix("/users/") { return user(String(request.path.dropFirst("/users/".count)), request) }
        return .text(404, "not found; try /, /events, /healthz, /readyz, /metrics, /leaderboard?window=&scope=, /users/<id>")
    }

    /// Constant-time comparison of the presented token (no early exit on the first different byte).
    static func authorized(_ header: String?, token: [UInt8]) -> Bool {
        guard let header, header.count > 7, header.prefix(7).lowercased() == "bearer " else { return false }
        let presented = Array(header.dropFirst(7).utf8)
        var diff = UInt8(presented.count == token.count ? 0 : 1)
        for i in 0..<max(presented.count, token.count) {
            diff |= (i < presented.count ? presented[i] : 0) ^ (i < token.count ? token[i] : 0xFF)
        }
        return diff == 0
    }

    private func healthz() -> HTTPResponse {
        let status = pipeline.status
        let now = WallClock.monotonicMs()
        let stalledFor: Int64 = lastBeat.withLock { last in
            if status.heartbeat != last.beat { last = (status.heartbeat, now) }
            return now - last.atMs
        }
        if status.heartbeat > 0 && stalledFor > stallAfterMs {
            return .text(503, "unhealthy: the pipeline loop has not moved for \(stalledFor / 1000) s")
        }
        return .text(200, "ok")
    }

    /// How long holding no partition, or lag without progress, is tolerated before `/readyz` says so.
    static let readinessGraceMs: Int64 = 30_000

    private func readyz() -> HTTPResponse {
        let status = pipeline.status
        let now = WallClock.monotonicMs()
        if status.stopping { return .text(503, "not ready: stopping") }
        if let blocked = status.outputBlocked { return .text(503, "not ready: outputs refused by Kafka: \(blocked)") }
        if status.roleKnown && !status.active { return .text(503, "not ready: standby (another instance is active)") }
        if !status.ready {
            if status.catchingUp, let reason = status.rebuildReason {
                return .text(503, "not ready: rebuilding state from the input (\(reason))")
            }
            return .text(503, "not ready: restoring state or waiting for partitions")
        }
        if let since = status.noPartitionsSinceMs, now - since > Self.readinessGraceMs {
            return .text(503, "not ready: no input partition assigned for \((now - since) / 1000) s")
        }
        if let since = status.stalledSinceMs, now - since > Self.readinessGraceMs {
            return .text(503, "not ready: no progress for \((now - since) / 1000) s with \(status.lag.values.reduce(0, +)) messages of lag")
        }
        return .text(200, "ready")
    }

    private func leaderboard(_ request: HTTPRequest) -> HTTPResponse {
        let window = request.query["window"].flatMap { $0.isEmpty ? nil : $0 } ?? windows.first ?? "1h"
        let scope = request.query["scope"].flatMap { $0.isEmpty ? nil : $0 } ?? "global"
        guard windows.contains(window) else {
            return .text(404, "unknown window '\(window)'; configured: \(windows.joined(separator: ", "))")
        }
        guard let board = pipeline.status.latestBoards["\(window)|\(scope)"] else {
            return .text(404, "no board yet for window '\(window)' and scope '\(scope)'")
        }
        return .json(200, board)
    }

    /// A Server-Sent-Event stream of boards and alerts, owned by the hub's thread once the head is written.
    private func events() -> HTTPResponse {
        let hub = pipeline.events
        guard hub.reserve() else {
            return .text(503, "too many event streams open (at most \(hub.maxStreams))", headers: [("Retry-After", "5")])
        }
        // `retry:` tells the browser how soon to reconnect after the daemon restarts.
        return HTTPResponse(status: 200, contentType: "text/event-stream", body: Array("retry: 2000\n\n".utf8),
                            headers: [("X-Accel-Buffering", "no")], stream: hub)
    }

    /// The person's explanation (`tokenwatch.user.v1`): figures, rule readings, open alerts, hourly usage,
    /// and their recent alert messages as the dashboard's feed holds them.
    private func user(_ id: String, _ request: HTTPRequest) -> HTTPResponse {
        guard !id.isEmpty else { return .text(404, "give a user id: /users/<id>") }
        let window = request.query["window"].flatMap { $0.isEmpty ? nil : $0 }
        if let window, !windows.contains(window) {
            return .text(404, "unknown window '\(window)'; configured: \(windows.joined(separator: ", "))")
        }
        // `DELETE /users/<id>` forgets the person; only with a bearer token configured (which the caller showed).
        let forgetting = request.method == "DELETE"
        if forgetting && bearerToken == nil {
            return .text(403, "forgetting a user needs http.bearer_token to be configured (and sent)")
        }
        // A pseudonym from a board names its person only for a caller that showed the bearer token.
        switch pipeline.explanation(id, window: window, resolvingPseudonym: bearerToken != nil, forgetting: forgetting) {
        case .some(.none): return .text(404, "unknown user")
        case .none: return .text(503, "the pipeline did not answer in time; try again")
        case .some(.some(let e)): return .json(200, e.json(alerts: pipeline.events.recentAlerts(of: e.summary.userId)))
        }
    }
}

/// The HTTP server as one service of the daemon's group: serves from start until graceful shutdown.
public struct HTTPService: Service {
    public let server: HTTPServer
    let logger: Logger
    /// Closed with the server, so open dashboard streams end on shutdown.
    let events: EventStreamHub?

    public init(server: HTTPServer, logger: Logger, events: EventStreamHub? = nil) {
        self.server = server
        self.logger = logger
        self.events = events
    }

    public func run() async throws {
        server.start()
        logger.info("http listening", metadata: ["address": "\(server.boundAddress)"])
        // Returns on graceful shutdown (or throws on cancellation); stop either way.
        defer {
            server.stop()
            events?.stop()
        }
        try? await gracefulShutdown()
    }
}
