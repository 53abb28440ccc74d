import Kafka
import Logging

/// Sends the pipeline's outputs and keeps each one until the broker acknowledges it, without ever
/// blocking the loop: a record the producer will not take now (queue full, or an error that is not
/// retriable, such as an oversized or unauthorised record) waits in an ordered queue and is tried
/// again later, so outputs of one key keep their order, SIGTERM is always served, and nothing is lost
/// silently. Pipeline thread only.
struct OutputSender {
    struct Item {
        var topic: String
        var key: [UInt8]?
        var value: [UInt8]
        /// For an alert: when the watermark passed its snapshot time (monotonic ms) and the event time
        /// of the behaviour it reports, for the alert-latency histograms.
        var alert: (emittedMs: Int64, eventTs: Int64)? = nil
    }

    /// The latest error that is not retriable, while records are held back by it.
    struct Blockage: Sendable, Equatable {
        var topic: String
        var error: String
    }

    private let producer: KafkaProducer
    private let logger: Logger
    /// Sent, not yet acknowledged, by delivery token.
    private(set) var inFlight: [UInt64: Item] = [:]
    /// Not yet taken by the producer, oldest first (`head` is the next to try).
    private var waiting: [(token: UInt64, item: Item)] = []
    private var head = 0
    private var nextToken: UInt64 = 1
    private var retryAtMs: Int64 = 0
    private var lastErrorLogMs: Int64?
    /// Failed sends and deliveries whose error was not retriable (`tokenwatch_output_errors_total`).
    private(set) var permanentErrors = 0
    private(set) var blockage: Blockage?
    /// Alerts: from the watermark passing their snapshot time to the broker's acknowledgement.
    private(set) var alertEmitToAck = LatencyHistogram()
    /// Alerts: from the event time of the behaviour they report to the acknowledgement (wall clock).
    private(set) var alertEventToAck: LatencyHistogram

    /// How long a record held back by an error that is not retriable waits before the next try.
    static let permanentRetryMs: Int64 = 5_000

    /// `eventToAckBounds`: the buckets of `alertEventToAck`, which starts at `allowed_lateness` by design.
    init(producer: KafkaProducer, logger: Logger, eventToAckBounds: [Double] = LatencyHistogram.bounds) {
        self.producer = producer
        self.logger = logger
        alertEventToAck = LatencyHistogram(bounds: eventToAckBounds)
    }

    /// Outputs not yet acknowledged: in flight plus waiting.
    var unacknowledged: Int { inFlight.count + waiting.count - head }

    mutating func send(topic: String, key: [UInt8]?, value: [UInt8], alert: (emittedMs: Int64, eventTs: Int64)? = nil) {
        let token = nextToken
        nextToken += 1
        waiting.append((token, Item(topic: topic, key: key, value: value, alert: alert)))
        drain()
    }

    /// Hands waiting records to the producer, oldest first, until one is refused.
    mutating func drain() {
        let now = WallClock.monotonicMs()
        guard now >= retryAtMs else { return }
        while head < waiting.count {
            let (token, item) = waiting[head]
            do {
                try producer.produce(topic: item.topic, key: item.key, value: item.value, token: token)
                inFlight[token] = item
                head += 1
            } catch {
                // A full local queue is retried after the next delivery reports; anything else waits longer.
                if !error.isRetriable { noteBlocked(item, error, now: now) }
                break
            }
        }
        if head == waiting.count {
            waiting.removeAll(keepingCapacity: true)
            head = 0
            if inFlight.isEmpty { blockage = nil }
        } else if head > 4_096 && head * 2 > waiting.count {
            waiting.removeFirst(head)
            head = 0
        }
    }

    /// Serves delivery reports for up to `timeout`; failed deliveries go back to the front of the queue.
    mutating func serveDeliveries(timeout: Duration) {
        let reports = producer.pollDeliveries(timeout: timeout)
        var failed: [(token: UInt64, item: Item)] = []
        for report in reports {
            guard let item = inFlight.removeValue(forKey: report.token) else { continue }
            if report.error == nil, let alert = item.alert {
                // The report's own time: the producer serves reports on a thread of its own (LiveLoop), so
                // it is when the acknowledgement came, not when this loop got round to reading it.
                let ackedMonotonic = report.servedAtMs > 0 ? report.servedAtMs : WallClock.monotonicMs()
                alertEmitToAck.observe(milliseconds: ackedMonotonic - alert.emittedMs)
                alertEventToAck.observe(milliseconds: WallClock.nowMs() - (WallClock.monotonicMs() - ackedMonotonic) - alert.eventTs)
            }
            if let error = report.error {
                if !error.isRetriable { noteBlocked(item, error, now: WallClock.monotonicMs()) }
                else { logger.warning("output not delivered; sending it again", metadata: ["topic": "\(item.topic)", "error": "\(error)"]) }
                failed.append((report.token, item))
            }
        }
        if !failed.isEmpty {
            // Oldest first, ahead of anything not yet sent.
            waiting.replaceSubrange(0..<head, with: failed.sorted { $0.token < $1.token })
            head = 0
        }
        if !inFlight.isEmpty || head < waiting.count { drain() }
        if inFlight.isEmpty && head == waiting.count { blockage = nil }
    }

    private mutating func noteBlocked(_ item: Item, _ error: KafkaError, now: Int64) {
        permanentErrors += 1
        retryAtMs = now + Self.permanentRetryMs
        blockage = Blockage(topic: item.topic, error: "\(error)")
        // One line per retry period, not one per record.
        if lastErrorLogMs.map({ now - $0 >= Self.permanentRetryMs }) ?? true {
            lastErrorLogMs = now
            logger.error("output refused by Kafka; holding outputs back and pausing input until it is taken", metadata: [
                "topic": "\(item.topic)", "bytes": "\(item.value.count)", "error": "\(error)",
                "waiting": "\(unacknowledged)",
            ])
        }
    }
}

extension OutputSender {
    /// The outputs' figures in the status: backlog, refusals, alert latencies.
    func report(into status: inout PipelineStatus) {
        status.inFlight = unacknowledged
        status.outputBlocked = blockage.map { "\($0.topic): \($0.error)" }
        status.outputErrors = permanentErrors
        status.alertEmitToAck = alertEmitToAck
        status.alertEventToAck = alertEventToAck
    }
}
