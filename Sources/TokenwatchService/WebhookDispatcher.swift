import Dispatch
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import ServiceLifecycle
import Synchronization
import TokenwatchConfig

// Alerts are handed over by the pipeline (through the stream hub) and posted on one thread of this
// type, so a slow or dead receiver never holds the pipeline. Each webhook has its own FIFO queue: a
// post that fails is retried with back-off before the next one for that webhook, so a resolved message
// never overtakes its firing one. Delivered (webhook, alert_id, state) keys are appended to a file in
// the state directory and read back at start: alerts published again after a restart (the state
// rebuilt, or the last minutes replayed after a crash) are not posted twice. Posts still queued at
// shutdown are kept in a file and sent after the next start.
/// Delivers alerts to `alerting.webhooks`: filtered, formatted, retried with back-off, once per alert state.
public final class WebhookDispatcher: Sendable {
    /// One post waiting for its webhook.
    struct Delivery: Sendable {
        var hook: Int
        var key: String
        var body: [UInt8]
        var attempts = 0
        var dueMs: Int64 = 0
    }

    let hooks: [WebhookSettings]
    let environment: [String: String]
    let logger: Logger
    let deliveredPath: String
    let deadLetterPath: String
    let pendingPath: String
    /// Tries per post, and the back-off between them (doubling from the first, capped).
    static let maxAttempts = 8
    static let firstBackoffMs: Int64 = 1_000
    static let maxBackoffMs: Int64 = 60_000

    private let inbox = Mutex<(alerts: [[UInt8]], stopping: Bool)>(([], false))
    private let wake = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let started = Atomic<Bool>(false)
    /// Posts made (2xx), failed tries, and posts given up (dead-lettered); for tests and logs.
    public let delivered = Atomic<Int>(0)
    public let failures = Atomic<Int>(0)
    public let deadLettered = Atomic<Int>(0)

    public init(webhooks: [WebhookSettings], stateDirectory: String, environment: [String: String], logger: Logger) {
        hooks = webhooks
        self.environment = environment
        self.logger = logger
        deliveredPath = stateDirectory + "/webhooks.delivered"
        deadLetterPath = stateDirectory + "/webhooks.deadletter.jsonl"
        pendingPath = stateDirectory + "/webhooks.pending.jsonl"
    }

    /// Queues one published alert message; returns at once.
    public func submit(_ alert: [UInt8]) {
        inbox.withLock { $0.alerts.append(alert) }
        wake.signal()
    }

    /// Starts the delivery thread; idempotent.
    public func start() {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        let thread = Thread { [self] in
            run()
            finished.signal()
        }
        thread.name = "tokenwatch-webhooks"
        thread.start()
    }

    /// Lets queued posts go out for up to `grace`, keeps the rest for the next start, and stops.
    public func stop(grace: Duration = .seconds(5)) {
        inbox.withLock { $0.stopping = true }
        wake.signal()
        if started.load(ordering: .acquiring) {
            _ = finished.wait(timeout: .now() + .milliseconds(Int(grace.components.seconds * 1000) + 2_000))
        }
    }

    // MARK: - The delivery thread

    private func run() {
        var seen = loadDelivered()
        var queues = [[Delivery]](repeating: [], count: hooks.count)
        for d in loadPending() where d.hook < hooks.count { queues[d.hook].append(d) }
        var stopAt: Int64?
        while true {
            let (alerts, stopping) = inbox.withLock { box in defer { box.alerts = [] }; return (box.alerts, box.stopping) }
            for alert in alerts { enqueue(alert, into: &queues, seen: seen) }
            if stopping && stopAt == nil { stopAt = WallClock.monotonicMs() + 5_000 }
            let next = serve(&queues, seen: &seen)
            let empty = queues.allSatisfy(\.isEmpty)
            if let stopAt, empty || WallClock.monotonicMs() >= stopAt { break }
            let waitMs = max(1, min(next ?? 1_000, 1_000) - 0)
            _ = wake.wait(timeout: .now() + .milliseconds(Int(waitMs)))
        }
        savePending(queues.flatMap { $0 })
    }

    /// Turns one alert message into a post per webhook that wants it and has not had it.
    private func enqueue(_ alert: [UInt8], into queues: inout [[Delivery]], seen: Set<String>) {
        guard let facts = AlertFacts(alert) else {
            logger.warning("webhooks: not an alert message; skipped")
            return
        }
        for (i, hook) in hooks.enumerated() where facts.wanted(by: hook) {
            let key = "\(hook.url)\t\(facts.alertId)\t\(facts.state)"
            guard !seen.contains(key), !queues[i].contains(where: { $0.key == key }) else { continue }
            queues[i].append(Delivery(hook: i, key: key, body: WebhookPayload.body(facts, format: hook.format)))
        }
    }

    /// Posts the due head of every queue; returns how long until the next retry is due (nil: nothing waits).
    private func serve(_ queues: inout [[Delivery]], seen: inout Set<String>) -> Int64? {
        var next: Int64?
        for i in queues.indices {
            while var d = queues[i].first {
                let now = WallClock.monotonicMs()
                if d.dueMs > now { next = min(next ?? .max, d.dueMs - now); break }
                d.attempts += 1
                if let error = post(d, to: hooks[i]) {
                    failures.add(1, ordering: .relaxed)
                    if d.attempts >= Self.maxAttempts {
                        deadLetter(d, error: error)
                        queues[i].removeFirst()
                        continue
                    }
                    let backoff = min(Self.maxBackoffMs, Self.firstBackoffMs << Int64(d.attempts - 1))
                    d.dueMs = now + backoff
                    queues[i][0] = d
                    logger.warning("webhook post failed; retrying", metadata: [
                        "url": "\(hooks[i].url)", "attempt": "\(d.attempts)", "retry_in_ms": "\(backoff)", "error": "\(error)",
                    ])
                    next = min(next ?? .max, backoff)
                    break
                }
                recordDelivered(d.key)
                seen.insert(d.key)
                delivered.add(1, ordering: .relaxed)
                queues[i].removeFirst()
            }
        }
        return next
    }

    /// One POST; nil on a 2xx answer, else what went wrong.
    private func post(_ d: Delivery, to hook: WebhookSettings) -> String? {
        guard let url = URL(string: hook.url) else { return "bad url" }
        var request = URLRequest(url: url, timeoutInterval: 10)
        request.httpMethod = "POST"
        request.httpBody = Data(d.body)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("tokenwatch/\(BuildInfo.version)", forHTTPHeaderField: "User-Agent")
        if let name = hook.bearerTokenEnv, let token = environment[name] {
            request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        }
        if let header = hook.secretHeader, let name = hook.secretEnv, let secret = environment[name] {
            request.setValue(secret, forHTTPHeaderField: header)
        }
        let outcome = Mutex<String?>("no answer")
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { _, response, error in
            let status = (response as? HTTPURLResponse)?.statusCode ?? 0
            outcome.withLock { $0 = error.map { "\($0.localizedDescription)" } ?? ((200..<300).contains(status) ? nil : "HTTP \(status)") }
            done.signal()
        }.resume()
        guard done.wait(timeout: .now() + .seconds(15)) == .success else { return "timed out" }
        return outcome.withLock { $0 }
    }
}

/// Webhook delivery as a service of the daemon's group: started before the pipeline, stopped after it
/// has drained, so the last alerts still go out (or are kept for the next start).
public struct WebhookService: Service, CustomStringConvertible {
    let dispatcher: WebhookDispatcher
    public var description: String { "WebhookService(\(dispatcher.hooks.count) webhooks)" }

    public func run() async throws {
        dispatcher.start()
        try? await gracefulShutdown()
        dispatcher.stop()
    }
}
