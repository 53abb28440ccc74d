import CRdKafka
import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization

/// An idempotent producer owning one `rd_kafka_t`; delivery reports are collected and handed out by
/// ``pollDeliveries(timeout:)``.
///
/// `produce`, `pollDeliveries`, `flush` and `send` may be called from any thread (librdkafka's producer
/// calls are thread-safe and our report buffer is behind a Mutex); the blocking ones belong on dedicated
/// threads, not on the cooperative pool.
public final class KafkaProducer: @unchecked Sendable {
    // @unchecked Sendable: `rk` is an immutable pointer to a handle whose producer API is thread-safe; all
    // mutable Swift state is in `ProducerContext.state` (a Mutex) or an Atomic.

    private let rk: OpaquePointer
    private let context: ProducerContext
    private let logger: Logger
    private let sendCounter = Atomic<UInt64>(0)

    /// How long `deinit` waits for `rd_kafka_destroy` on its dedicated thread. Default 10 s.
    public let shutdownTimeout: Duration
    /// Signalled when the report thread has stopped (nil without one).
    private let reportThreadDone: DispatchSemaphore?

    /// Creates the producer. Defaults, unless set by the caller: `enable.idempotence=true`,
    /// `log.queue=true` (logs go to `logger` when delivery reports are served), `linger.ms=5`.
    /// With `servesReportsOnOwnThread`, a thread of its own serves delivery reports as they come, so
    /// each report's `servedAtMs` is when the broker's acknowledgement arrived, however long the owner
    /// takes to call ``pollDeliveries(timeout:)``. Throws librdkafka's text for a bad property.
    public init(
        configuration: [String: String],
        logger: Logger,
        shutdownTimeout: Duration = .seconds(10),
        servesReportsOnOwnThread: Bool = false
    ) throws(KafkaError) {
        let context = ProducerContext(logger: logger)
        let conf = try KafkaConfiguration.make(configuration, defaults: [
            "enable.idempotence": "true",
            "log.queue": "true",
            "linger.ms": "5",
        ])
        context.install(on: conf)
        rd_kafka_conf_set_dr_msg_cb(conf, producerDeliveryCallback)
        rd_kafka_conf_set_error_cb(conf, producerErrorCallback)
        let rk = try KafkaConfiguration.newHandle(RD_KAFKA_PRODUCER, conf: conf)
        // Log lines join the main queue, which rd_kafka_poll serves along with delivery reports.
        _ = rd_kafka_set_log_queue(rk, nil)
        self.rk = rk
        self.context = context
        self.logger = logger
        self.shutdownTimeout = shutdownTimeout
        reportThreadDone = servesReportsOnOwnThread ? Self.startReportThread(UncheckedHandle(rk), context) : nil
    }

    /// Serves callbacks until `context.stopReportThread`; nil when no thread could be started (then the
    /// owner's polls serve them, as without the option).
    private static func startReportThread(_ handle: UncheckedHandle, _ context: ProducerContext) -> DispatchSemaphore? {
        let done = DispatchSemaphore(value: 0)
        let started = DedicatedThread.spawn {
            while !context.stopReportThread.load(ordering: .relaxed) { rd_kafka_poll(handle.pointer, 50) }
            done.signal()
        }
        return started ? done : nil
    }

    deinit {
        if let reportThreadDone {
            context.stopReportThread.store(true, ordering: .relaxed)
            reportThreadDone.wait()  // within one poll interval; the handle must outlive it
        }
        let handle = UncheckedHandle(rk)
        let context = self.context
        let finished = DedicatedThread.run(timeout: shutdownTimeout) {
            rd_kafka_destroy(handle.pointer)
            withExtendedLifetime(context) {}
        }
        if !finished {
            logger.warning("producer destroy did not finish within \(shutdownTimeout); abandoning the handle")
        }
    }

    /// Enqueues one message (librdkafka copies key and value, `RD_KAFKA_MSG_F_COPY`); `token` comes back
    /// in its ``DeliveryReport``. Tokens with the top bit set are reserved for ``send(topic:key:value:)``.
    /// Throws a retriable error (`_QUEUE_FULL`) when the local queue is full: poll deliveries and retry.
    public func produce(topic: String, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer, token: UInt64) throws(KafkaError) {
        precondition(token & ProducerContext.sendTokenBit == 0, "tokens >= 2^63 are reserved for send()")
        try enqueue(topic: topic, key: key, value: value, token: token)
    }

    /// Convenience over ``produce(topic:key:value:token:)`` for byte arrays.
    public func produce(topic: String, key: [UInt8]?, value: [UInt8], token: UInt64) throws(KafkaError) {
        precondition(token & ProducerContext.sendTokenBit == 0, "tokens >= 2^63 are reserved for send()")
        let error: KafkaError? = value.withUnsafeBytes { valueBytes in
            guard let key else { return enqueueResult(topic: topic, key: nil, value: valueBytes, token: token) }
            return key.withUnsafeBytes { enqueueResult(topic: topic, key: $0, value: valueBytes, token: token) }
        }
        if let error { throw error }
    }

    private func enqueue(topic: String, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer, token: UInt64) throws(KafkaError) {
        if let error = enqueueResult(topic: topic, key: key, value: value, token: token) { throw error }
    }

    /// rd_kafka_produceva with the vu array on the stack; returns the error instead of throwing so it can
    /// be used inside the non-throwing pointer closures.
    private func enqueueResult(topic: String, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer, token: UInt64) -> KafkaError? {
        let error: OpaquePointer? = topic.withCString { topicName in
            withUnsafeTemporaryAllocation(of: rd_kafka_vu_t.self, capacity: 5) { vus in
                var count = 0
                func add(_ vu: rd_kafka_vu_t) {
                    vus[count] = vu
                    count += 1
                }
                var vu = rd_kafka_vu_t()
                vu.vtype = RD_KAFKA_VTYPE_TOPIC
                vu.u.cstr = topicName
                add(vu)
                if let key {
                    vu = rd_kafka_vu_t()
                    vu.vtype = RD_KAFKA_VTYPE_KEY
                    vu.u.mem.ptr = UnsafeMutableRawPointer(mutating: key.baseAddress)
                    vu.u.mem.size = key.count
                    add(vu)
                }
                vu = rd_kafka_vu_t()
                vu.vtype = RD_KAFKA_VTYPE_VALUE
                vu.u.mem.ptr = UnsafeMutableRawPointer(mutating: value.baseAddress)
                vu.u.mem.size = value.count
                add(vu)
                vu = rd_kafka_vu_t()
                vu.vtype = RD_KAFKA_VTYPE_OPAQUE
                vu.u.ptr = UnsafeMutableRawPointer(bitPattern: UInt(token))
                add(vu)
                vu = rd_kafka_vu_t()
                vu.vtype = RD_KAFKA_VTYPE_MSGFLAGS
                vu.u.i = RD_KAFKA_MSG_F_COPY
                add(vu)
                return rd_kafka_produceva(rk, vus.baseAddress, count)
            }
        }
        return error.map { KafkaError(consuming: $0) }
    }

    /// Serves delivery callbacks (and log lines) for up to `timeout` and returns every report collected
    /// since the last call, including those collected by ``flush(timeout:)``. Does not wait when reports
    /// are already waiting.
    public func pollDeliveries(timeout: Duration) -> [DeliveryReport] {
        let waiting = context.state.withLock { !$0.reports.isEmpty }
        if reportThreadDone != nil {
            // The report thread serves them: wait for one, in steps of a millisecond, up to `timeout`.
            let deadline = monotonicMs() + Int64(timeout.kafkaMilliseconds)
            while !waiting && context.state.withLock({ $0.reports.isEmpty }) && monotonicMs() < deadline { usleep(1_000) }
        } else {
            rd_kafka_poll(rk, waiting ? 0 : timeout.kafkaMilliseconds)
        }
        return context.state.withLock { state in
            let reports = state.reports
            state.reports = []
            state.reports.reserveCapacity(reports.count)
            return reports
        }
    }

    /// Waits until all enqueued messages are delivered or failed, up to `timeout`, serving delivery
    /// callbacks meanwhile; returns false on timeout. The reports stay available to ``pollDeliveries(timeout:)``.
    public func flush(timeout: Duration) -> Bool {
        rd_kafka_flush(rk, timeout.kafkaMilliseconds) == RD_KAFKA_RESP_ERR_NO_ERROR
    }

    /// Messages not yet acknowledged by the broker, plus delivery reports not yet served
    /// (`rd_kafka_outq_len`).
    public var outstanding: Int {
        Int(rd_kafka_outq_len(rk))
    }

    /// Async convenience for tools: enqueues one message and awaits its delivery. Waiting happens on a
    /// dedicated polling thread, never on the cooperative pool. Throws the enqueue error (e.g. queue full)
    /// or the delivery error (e.g. `_MSG_TIMED_OUT` after `message.timeout.ms`).
    public func send(topic: String, key: [UInt8]?, value: [UInt8]) async throws -> DeliveryReport {
        let token = ProducerContext.sendTokenBit | sendCounter.add(1, ordering: .relaxed).newValue
        return try await withCheckedThrowingContinuation { continuation in
            context.state.withLock { $0.pending[token] = continuation }
            let error: KafkaError? = value.withUnsafeBytes { valueBytes in
                guard let key else { return enqueueResult(topic: topic, key: nil, value: valueBytes, token: token) }
                return key.withUnsafeBytes { enqueueResult(topic: topic, key: $0, value: valueBytes, token: token) }
            }
            if let error {
                context.state.withLock { $0.pending.removeValue(forKey: token) }?.resume(throwing: error)
                return
            }
            startSendPollerIfNeeded()
        }
    }

    /// Starts the thread that serves callbacks while async sends are waiting; it stops when none are.
    private func startSendPollerIfNeeded() {
        let start = context.state.withLock { state in
            guard !state.pollerRunning, !state.pending.isEmpty else { return false }
            state.pollerRunning = true
            return true
        }
        guard start else { return }
        let started = DedicatedThread.spawn { [self] in
            while context.state.withLock({ state in
                if state.pending.isEmpty { state.pollerRunning = false }
                return state.pollerRunning
            }) {
                rd_kafka_poll(rk, 100)
            }
        }
        if !started {
            context.state.withLock { $0.pollerRunning = false }
            logger.error("could not start the delivery polling thread for send()")
        }
    }
}

/// A raw handle pointer that may cross to the shutdown thread.
struct UncheckedHandle: @unchecked Sendable {
    // @unchecked Sendable: handed over to exactly one shutdown thread after the owner is gone.
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
}

extension KafkaProducer {
    /// Enqueues one message for a stream of them (tools, replays, the changelog): while the local queue
    /// is full, serves deliveries and tries again. Returns how many deliveries failed meanwhile (and every
    /// 1,000th token, the failures waiting); throws any error that waiting cannot cure (unknown topic,
    /// message too large, not authorised), and the queue-full error once `giveUp` says so.
    public func produceWaiting(topic: String, key: [UInt8]?, value: [UInt8], token: UInt64,
                               giveUp: () -> Bool = { false }) throws(KafkaError) -> Int {
        var failed = 0
        while true {
            do {
                try produce(topic: topic, key: key, value: value, token: token)
                break
            } catch {
                guard error.isRetriable, !giveUp() else { throw error }
                failed += failures(in: pollDeliveries(timeout: .milliseconds(20)))
            }
        }
        if token % 1_000 == 0 { failed += failures(in: pollDeliveries(timeout: .zero)) }
        return failed
    }

    /// Waits until every enqueued message is acknowledged or failed (librdkafka fails each one after
    /// `message.timeout.ms`, so this ends), or until `giveUp` says so; returns how many deliveries failed,
    /// counting those still unacknowledged when it gave up.
    public func drainDeliveries(giveUp: () -> Bool = { false }) -> Int {
        var failed = 0
        while outstanding > 0 && !giveUp() { failed += failures(in: pollDeliveries(timeout: .milliseconds(100))) }
        failed += failures(in: pollDeliveries(timeout: .zero))
        return failed + outstanding
    }

    private func failures(in reports: [DeliveryReport]) -> Int { reports.filter { $0.error != nil }.count }
}
