import CRdKafka
import Dispatch
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a consumer's C callbacks reach: the logger and the rebalance events recorded for the owner.
final class ConsumerContext: CallbackContext, @unchecked Sendable {
    // @unchecked Sendable: the only mutable state, `events`, is behind a Mutex (the rebalance callback runs
    // on whichever thread serves the queue: the owner's poll, or the shutdown thread during close).
    let events = Mutex<[RebalanceEvent]>([])
    /// Where an assigned partition starts (nil: the committed offset); see `KafkaConsumer.setStartOffsets(_:)`.
    let startOffsets = Mutex<(@Sendable (String, Int32) -> Int64?)?>(nil)

    func record(_ event: RebalanceEvent) {
        events.withLock { $0.append(event) }
    }

    /// Writes the owner's chosen start offsets into the list librdkafka is about to assign, so fetching
    /// starts there (no seek after the fact, which could race with messages fetched from the committed offset).
    func applyStartOffsets(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) {
        guard let list, let provider = startOffsets.withLock({ $0 }) else { return }
        for i in 0..<Int(list.pointee.cnt) {
            let element = list.pointee.elems + i
            if let offset = provider(String(cString: element.pointee.topic), element.pointee.partition) {
                element.pointee.offset = offset
            }
        }
    }
}

/// The consumer's `rd_kafka_t` and its single served queue, plus the close/destroy bookkeeping shared
/// between the owner and the thread that shuts the handle down.
final class ConsumerCore: @unchecked Sendable {
    // @unchecked Sendable: `rk` and `queue` are used by the owner thread and, once shutdown has begun, only by
    // the one shutdown thread; `state` is behind a Mutex and `closeFinished` is a semaphore.
    enum CloseState { case open, closing, closed }

    let rk: OpaquePointer
    let queue: OpaquePointer
    let context: ConsumerContext
    let state = Mutex(CloseState.open)
    private let closeFinished = DispatchSemaphore(value: 0)

    init(rk: OpaquePointer, queue: OpaquePointer, context: ConsumerContext) {
        self.rk = rk
        self.queue = queue
        self.context = context
    }

    var isOpen: Bool { state.withLock { $0 == .open } }

    /// Marks the handle as closing; true for the one caller that must then run `closeNow`.
    func beginClose() -> Bool {
        state.withLock { state in
            guard state == .open else { return false }
            state = .closing
            return true
        }
    }

    /// Leaves the group (serving the final revoke through the rebalance callback) and closes the consumer.
    func closeNow() {
        let err = rd_kafka_consumer_close(rk)
        if err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__UNKNOWN_GROUP {
            context.logger.warning("consumer close: \(KafkaError(err))")
        }
        state.withLock { $0 = .closed }
        closeFinished.signal()
    }

    /// Waits until `closeNow` has returned (it may be running on another thread).
    func waitUntilClosed() {
        closeFinished.wait()
        closeFinished.signal()
    }

    /// Frees the queue reference and the handle. Call once, after close finished.
    func destroy() {
        rd_kafka_queue_destroy(queue)
        rd_kafka_destroy(rk)
    }
}

/// The result of an asynchronous commit (`commitAsync`): failures are logged, per partition too.
let consumerCommitCallback: @convention(c) (
    OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?
) -> Void = { _, err, offsets, opaque in
    guard let opaque else { return }
    let context = Unmanaged<ConsumerContext>.fromOpaque(opaque).takeUnretainedValue()
    // _NO_OFFSET: nothing to commit. Otherwise the first error, the request's or a partition's.
    var failure: KafkaError? = err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR__NO_OFFSET ? nil : KafkaError(err)
    if failure == nil, let offsets {
        do throws(KafkaError) { try PartitionList.checkErrors(offsets, "commit") } catch { failure = error }
    }
    if let failure { context.logger.warning("offset commit failed", metadata: ["error": "\(failure)"]) }
}

/// The rebalance callback: applies the new assignment (eager or cooperative) and records the event.
let consumerRebalanceCallback: @convention(c) (
    OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?, UnsafeMutableRawPointer?
) -> Void = { rk, err, partitions, opaque in
    guard let rk, let opaque else { return }
    let context = Unmanaged<ConsumerContext>.fromOpaque(opaque).takeUnretainedValue()
    let cooperative = rd_kafka_rebalance_protocol(rk).map { strcmp($0, "COOPERATIVE") == 0 } ?? false
    let changed = PartitionList.topicPartitions(partitions)

    switch err {
    case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
        context.applyStartOffsets(partitions)
        if cooperative {
            if let error = rd_kafka_incremental_assign(rk, partitions) {
                context.logger.error("incremental assign failed: \(KafkaError(consuming: error))")
            }
        } else {
            let result = rd_kafka_assign(rk, partitions)
            if result != RD_KAFKA_RESP_ERR_NO_ERROR {
                context.logger.error("assign failed: \(KafkaError(result))")
            }
        }
        context.logger.info("partitions assigned", metadata: ["partitions": "\(changed.count)", "protocol": "\(cooperative ? "cooperative" : "eager")"])
        context.record(.assigned(changed))

    case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
        let lost = rd_kafka_assignment_lost(rk) != 0
        if cooperative {
            if let error = rd_kafka_incremental_unassign(rk, partitions) {
                context.logger.error("incremental unassign failed: \(KafkaError(consuming: error))")
            }
        } else {
            let result = rd_kafka_assign(rk, nil)
            if result != RD_KAFKA_RESP_ERR_NO_ERROR {
                context.logger.error("unassign failed: \(KafkaError(result))")
            }
        }
        context.logger.info("partitions revoked", metadata: ["partitions": "\(changed.count)", "lost": "\(lost)"])
        context.record(.revoked(changed))

    default:
        // librdkafka asks us to drop the whole assignment to resynchronise.
        context.logger.error("rebalance error: \(KafkaError(err))")
        _ = rd_kafka_assign(rk, nil)
        context.record(.revoked(changed))
    }
}
