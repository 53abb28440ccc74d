import CRdKafka
import Logging

/// A group or manually-assigned consumer owning one `rd_kafka_t`.
///
/// Not thread-safe: one owner thread calls `poll`, `commit` and the other methods. Offsets are never
/// committed or stored automatically: commit what you have processed with ``commit(_:)``.
/// Logs, rebalance callbacks and messages all arrive through one queue served by ``poll(maxMessages:timeout:_:)``.
public final class KafkaConsumer: @unchecked Sendable {
    // @unchecked Sendable: so the owner can hand the consumer to its dedicated thread. The contract is one
    // caller at a time (documented above); the state shared with librdkafka's callbacks and the shutdown
    // thread lives in `ConsumerCore`/`ConsumerContext` behind Mutexes.

    private let core: ConsumerCore
    private let logger: Logger
    /// False when the caller gave no `group.id` (manual assignment only).
    private let hasGroup: Bool
    /// Reused array of message pointers for `rd_kafka_consume_batch_queue`.
    private var batch: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>?>
    private var batchCapacity: Int

    /// How long ``close()`` and `deinit` wait for librdkafka's close/destroy before giving up on it
    /// (it can hang after a broker bounce, librdkafka #4674). Default 10 s.
    public let shutdownTimeout: Duration

    /// Creates the consumer. `configuration` is passed to librdkafka as is, after our defaults:
    /// `enable.auto.commit=false`, `enable.auto.offset.store=false`, `log.queue=true` (logs go to `logger`),
    /// and a bounded prefetch (`queued.max.messages.kbytes=65536`), each unless the caller sets it.
    /// `group.id` may be absent for manual ``assign(_:)`` use (a private random group id is then set,
    /// because librdkafka 2.0.2's assign needs one; it is never joined). Throws librdkafka's text for a
    /// bad property.
    public init(
        configuration: [String: String],
        logger: Logger,
        shutdownTimeout: Duration = .seconds(10)
    ) throws(KafkaError) {
        let context = ConsumerContext(logger: logger)
        var configuration = configuration
        let hasGroup = !(configuration["group.id"] ?? "").isEmpty
        if !hasGroup {
            // librdkafka 2.0.2 refuses rd_kafka_assign without a group (_UNKNOWN_GROUP), so a manually
            // assigned consumer gets a private, random group id. It never joins that group (no subscribe)
            // and nothing is committed to it unless the caller commits.
            configuration["group.id"] = "tokenwatch-manual-\(String(UInt64.random(in: .min ... .max), radix: 16))"
        }
        let conf = try KafkaConfiguration.make(configuration, defaults: [
            "enable.auto.commit": "false",
            "enable.auto.offset.store": "false",
            "log.queue": "true",
            "queued.max.messages.kbytes": "65536",
        ])
        context.install(on: conf)
        rd_kafka_conf_set_rebalance_cb(conf, consumerRebalanceCallback)
        rd_kafka_conf_set_offset_commit_cb(conf, consumerCommitCallback)
        let rk = try KafkaConfiguration.newHandle(RD_KAFKA_CONSUMER, conf: conf)

        // One queue for everything: logs go to the main queue, and the main queue is forwarded to the
        // consumer (group) queue, so serving that one queue delivers messages, rebalances and logs.
        _ = rd_kafka_set_log_queue(rk, nil)
        let queue: OpaquePointer
        if rd_kafka_poll_set_consumer(rk) == RD_KAFKA_RESP_ERR_NO_ERROR, let consumerQueue = rd_kafka_queue_get_consumer(rk) {
            queue = consumerQueue
        } else {
            // Only without a group (not the case since we always set group.id above, kept for safety):
            // fetched messages and events then land on the main queue.
            queue = rd_kafka_queue_get_main(rk)
        }
        self.core = ConsumerCore(rk: rk, queue: queue, context: context)
        self.logger = logger
        self.shutdownTimeout = shutdownTimeout
        self.hasGroup = hasGroup
        self.batchCapacity = 0
        self.batch = .allocate(capacity: 0)
    }

    deinit {
        batch.deallocate()
        let core = self.core
        let mustClose = core.beginClose()
        let finished = DedicatedThread.run(timeout: shutdownTimeout) {
            if mustClose { core.closeNow() } else { core.waitUntilClosed() }
            core.destroy()
        }
        if !finished {
            logger.warning("consumer destroy did not finish within \(shutdownTimeout); abandoning the handle (librdkafka #4674)")
        }
    }

    private func ensureOpen() throws(KafkaError) {
        guard core.isOpen else { throw KafkaError(RD_KAFKA_RESP_ERR__STATE, message: "consumer is closed") }
    }

    /// Joins the consumer group and subscribes to `topics` (requires `group.id`). Partitions arrive through
    /// the rebalance callback while polling; see ``takeRebalanceEvents()``.
    public func subscribe(topics: [String]) throws(KafkaError) {
        try ensureOpen()
        guard hasGroup else {
            throw KafkaError(RD_KAFKA_RESP_ERR__UNKNOWN_GROUP, message: "subscribe needs a group.id in the configuration")
        }
        let list = PartitionList.make(topics.map { TopicPartitionOffset(topic: $0, partition: -1, offset: TopicPartitionOffset.invalid) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        try KafkaError.check(rd_kafka_subscribe(core.rk, list), "subscribe")
    }

    /// Leaves the subscription: the partitions are revoked through the rebalance callback while polling.
    public func unsubscribe() throws(KafkaError) {
        try ensureOpen()
        try KafkaError.check(rd_kafka_unsubscribe(core.rk), "unsubscribe")
    }

    /// Manually assigns partitions starting at the given offsets (logical offsets such as
    /// ``TopicPartitionOffset/beginning`` allowed); no group membership. Replaces any previous assignment.
    public func assign(_ partitions: [TopicPartitionOffset]) throws(KafkaError) {
        try ensureOpen()
        let list = PartitionList.make(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        try KafkaError.check(rd_kafka_assign(core.rk, list), "assign")
    }

    /// Waits up to `timeout` for the first message, then hands up to `maxMessages` messages to `body` in one
    /// batch (no per-message copies; each view is valid only during its call) and returns how many were
    /// handed out. Serves rebalance callbacks and log lines as a side effect. Returns 0 after ``close()``.
    ///
    /// If `body` throws, the message it threw on and those after it in the batch are rewound (seek), so the
    /// next poll hands them out again; the error is rethrown.
    public func poll(
        maxMessages: Int,
        timeout: Duration,
        _ body: (borrowing KafkaMessageView) throws -> Void
    ) rethrows -> Int {
        guard core.isOpen else { return 0 }
        let wanted = max(1, maxMessages)
        if batchCapacity < wanted {
            batch.deallocate()
            batch = .allocate(capacity: wanted)
            batchCapacity = wanted
        }
        // rd_kafka_consume_batch_queue waits for a *full* batch up to its timeout, so first take what is
        // ready, and only if nothing is, wait for one message and then take what arrived with it.
        var count = rd_kafka_consume_batch_queue(core.queue, 0, batch, wanted)
        if count == 0 {
            let timeoutMs = timeout.kafkaMilliseconds
            if timeoutMs > 0 {
                count = rd_kafka_consume_batch_queue(core.queue, timeoutMs, batch, 1)
                if count == 1 && wanted > 1 {
                    let more = rd_kafka_consume_batch_queue(core.queue, 0, batch + 1, wanted - 1)
                    if more > 0 { count += more }
                }
            }
        }
        guard count > 0 else {
            if count < 0 { logger.error("consume batch failed: \(KafkaError(rd_kafka_last_error()))") }
            return 0
        }

        var next = 0
        defer {
            if next < count { rewind(from: next, count: count) }
            for index in next..<count { rd_kafka_message_destroy(batch[index]) }
        }
        while next < count {
            let message = batch[next]!
            try body(KafkaMessageView(message))
            rd_kafka_message_destroy(message)
            next += 1
        }
        return count
    }

    /// Seeks each partition among `batch[from..<count]` back to its first message there.
    private func rewind(from: Int, count: Int) {
        var firstOffsets: [TopicPartition: Int64] = [:]
        for index in from..<count {
            let view = KafkaMessageView(batch[index]!)
            guard view.error == nil else { continue }
            let key = TopicPartition(topic: view.topic, partition: view.partition)
            firstOffsets[key] = min(firstOffsets[key] ?? view.offset, view.offset)
        }
        guard !firstOffsets.isEmpty else { return }
        let list = PartitionList.make(firstOffsets.map { TopicPartitionOffset(topic: $0.key.topic, partition: $0.key.partition, offset: $0.value) })
        defer { rd_kafka_topic_partition_list_destroy(list) }
        if let error = rd_kafka_seek_partitions(core.rk, list, 5_000) {
            logger.error("rewind after a failed message handler: \(KafkaError(consuming: error))")
        }
    }

    /// Rebalance events recorded since the last call, oldest first. The rebalance callback has already
    /// applied them (assign/unassign, eager or cooperative) by the time they are returned.
    public func takeRebalanceEvents() -> [RebalanceEvent] {
        core.context.events.withLock { events in
            defer { events.removeAll() }
            return events
        }
    }

    /// The partitions currently assigned to this consumer.
    public func assignment() throws(KafkaError) -> [TopicPartition] {
        try ensureOpen()
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>? = nil
        try KafkaError.check(rd_kafka_assignment(core.rk, &list), "assignment")
        defer { if let list { rd_kafka_topic_partition_list_destroy(list) } }
        return PartitionList.topicPartitions(list)
    }

    /// Synchronously commits the given offsets for the group (offset = the next offset to read, i.e. the last
    /// processed offset + 1). An empty list does nothing.
    public func commit(_ offsets: [TopicPartitionOffset]) throws(KafkaError) {
        try commit(offsets, waiting: true)
    }

    /// Sends the commit of `offsets` without waiting for the coordinator (a cluster that is gone must not
    /// hold the caller); a failure is logged when the result is served (the next poll). Closing waits
    /// for outstanding commits, within ``shutdownTimeout``. Throws only what fails at once.
    public func commitAsync(_ offsets: [TopicPartitionOffset]) throws(KafkaError) {
        try commit(offsets, waiting: false)
    }

    private func commit(_ offsets: [TopicPartitionOffset], waiting: Bool) throws(KafkaError) {
        try ensureOpen()
        guard !offsets.isEmpty else { return }
        let list = PartitionList.make(offsets)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        try KafkaError.check(rd_kafka_commit(core.rk, list, waiting ? 0 : 1), "commit")
        // Per-partition results are known only once the coordinator answered (else the commit callback logs them).
        if waiting { try PartitionList.checkErrors(list, "commit") }
    }

    /// The group's committed offsets for `partitions`; `-1001` (``TopicPartitionOffset/invalid``) where
    /// nothing is committed.
    public func committed(_ partitions: [TopicPartition], timeout: Duration) throws(KafkaError) -> [TopicPartitionOffset] {
        try ensureOpen()
        guard !partitions.isEmpty else { return [] }
        let list = PartitionList.make(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        try KafkaError.check(rd_kafka_committed(core.rk, list, timeout.kafkaMilliseconds), "committed")
        try PartitionList.checkErrors(list, "committed")
        return PartitionList.offsets(list)
    }

    /// Asks the partition leader for the low (oldest) and high (next to be written) offsets.
    public func watermarks(topic: String, partition: Int32, timeout: Duration) throws(KafkaError) -> (low: Int64, high: Int64) {
        try ensureOpen()
        var low: Int64 = -1
        var high: Int64 = -1
        let err = rd_kafka_query_watermark_offsets(core.rk, topic, partition, &low, &high, timeout.kafkaMilliseconds)
        try KafkaError.check(err, "watermarks \(topic)[\(partition)]")
        return (low, high)
    }

    /// The low and high offsets librdkafka last learnt from fetch responses for a partition this consumer
    /// fetches; no broker request, so cheap enough to call every second. Nil until a fetch reported them.
    public func cachedWatermarks(topic: String, partition: Int32) -> (low: Int64, high: Int64)? {
        guard core.isOpen else { return nil }
        var low: Int64 = -1
        var high: Int64 = -1
        let err = rd_kafka_get_watermark_offsets(core.rk, topic, partition, &low, &high)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 else { return nil }
        return (low, high)
    }

    /// For each partition, the earliest offset whose timestamp is at or after the query's `offset` field
    /// (a timestamp in epoch ms); `-1` when there is none (past the end). Throws on a per-partition error.
    /// The mock cluster does not implement this lookup (see the tests for what it answers).
    public func offsetsForTimes(_ query: [TopicPartitionOffset], timeout: Duration) throws(KafkaError) -> [TopicPartitionOffset] {
        try ensureOpen()
        guard !query.isEmpty else { return [] }
        let list = PartitionList.make(query)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        try KafkaError.check(rd_kafka_offsets_for_times(core.rk, list, timeout.kafkaMilliseconds), "offsets for times")
        try PartitionList.checkErrors(list, "offsets for times")
        return PartitionList.offsets(list)
    }

    /// The number of partitions of `topic`, from a metadata request. Throws when the topic does not exist
    /// (note: a broker with auto-creation on, like the mock cluster, creates it instead).
    public func partitionCount(topic: String, timeout: Duration) throws(KafkaError) -> Int {
        try ensureOpen()
        return try Metadata.partitionCount(rk: core.rk, topic: topic, timeout: timeout)
    }

    /// Chooses where each newly assigned partition starts fetching: `provider(topic, partition)` returns an
    /// offset (or ``TopicPartitionOffset/beginning``), or nil for the group's committed offset. It runs in the
    /// rebalance callback, on the thread that polls.
    public func setStartOffsets(_ provider: (@Sendable (String, Int32) -> Int64?)?) {
        core.context.startOffsets.withLock { $0 = provider }
    }

    /// The cluster id the brokers report (nil when none answered within `timeout`).
    public func clusterId(timeout: Duration) -> String? {
        guard core.isOpen, let id = rd_kafka_clusterid(core.rk, timeout.kafkaMilliseconds) else { return nil }
        defer { rd_kafka_mem_free(core.rk, id) }
        return String(cString: id)
    }

    /// Stops fetching from `partitions` (they stay assigned, so the group does not rebalance).
    public func pause(_ partitions: [TopicPartition]) throws(KafkaError) {
        try ensureOpen()
        let list = PartitionList.make(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        try KafkaError.check(rd_kafka_pause_partitions(core.rk, list), "pause")
        try PartitionList.checkErrors(list, "pause")
    }

    /// Resumes fetching from paused `partitions`.
    public func resume(_ partitions: [TopicPartition]) throws(KafkaError) {
        try ensureOpen()
        let list = PartitionList.make(partitions)
        defer { rd_kafka_topic_partition_list_destroy(list) }
        try KafkaError.check(rd_kafka_resume_partitions(core.rk, list), "resume")
        try PartitionList.checkErrors(list, "resume")
    }

    /// Leaves the group and closes the consumer; idempotent. Runs on a dedicated thread and waits at most
    /// ``shutdownTimeout`` (librdkafka #4674 can hang it after a broker bounce); after a timeout the close
    /// goes on in the background and the handle is destroyed when it ends. Nothing is committed here:
    /// commit before closing. `deinit` closes first if the caller forgot, then destroys, also bounded.
    public func close() {
        guard core.beginClose() else { return }
        let core = self.core
        let finished = DedicatedThread.run(timeout: shutdownTimeout) { core.closeNow() }
        if !finished {
            logger.warning("consumer close did not finish within \(shutdownTimeout); continuing without it")
        }
    }
}
