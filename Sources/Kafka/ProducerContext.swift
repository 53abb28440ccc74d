import CRdKafka
import Logging
import Synchronization

/// What a producer's C callbacks reach: collected delivery reports and the continuations of async sends.
final class ProducerContext: CallbackContext, @unchecked Sendable {
    // @unchecked Sendable: all mutable state is inside `state`, a Mutex; callbacks run on whichever
    // thread calls rd_kafka_poll/flush.
    struct State {
        var reports: [DeliveryReport] = []
        var pending: [UInt64: CheckedContinuation<DeliveryReport, any Error>] = [:]
        var pollerRunning = false
    }

    let state = Mutex(State())
    /// Set to stop the report thread (``KafkaProducer`` with `servesReportsOnOwnThread`).
    let stopReportThread = Atomic<Bool>(false)

    /// Tokens with this bit set belong to ``KafkaProducer/send(topic:key:value:)``.
    static let sendTokenBit: UInt64 = 1 << 63

    func deliver(_ report: DeliveryReport) {
        if report.token & Self.sendTokenBit != 0 {
            let continuation = state.withLock { $0.pending.removeValue(forKey: report.token) }
            if let error = report.error {
                continuation?.resume(throwing: error)
            } else {
                continuation?.resume(returning: report)
            }
        } else {
            state.withLock { $0.reports.append(report) }
        }
    }
}

/// The delivery-report callback: one report per message, no per-message allocation on success.
let producerDeliveryCallback: @convention(c) (
    OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?
) -> Void = { _, message, opaque in
    guard let message, let opaque else { return }
    let context = Unmanaged<ProducerContext>.fromOpaque(opaque).takeUnretainedValue()
    let m = message.pointee
    let error: KafkaError? = m.err == RD_KAFKA_RESP_ERR_NO_ERROR
        ? nil
        : KafkaError(m.err, message: String(cString: rd_kafka_err2str(m.err)))
    context.deliver(DeliveryReport(
        token: UInt64(UInt(bitPattern: m._private)),
        error: error,
        partition: m.partition,
        offset: m.offset,
        servedAtMs: monotonicMs()
    ))
}

/// The error callback: client-level errors (brokers down, fatal idempotence errors) go to the log.
let producerErrorCallback: @convention(c) (
    OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?
) -> Void = { rk, code, reason, opaque in
    guard let rk, let context = CallbackContext.from(opaque) else { return }
    let text = reason.map { String(cString: $0) } ?? ""
    let err = rd_kafka_resp_err_t(rawValue: code)
    if err == RD_KAFKA_RESP_ERR__FATAL {
        var buffer = [CChar](repeating: 0, count: 512)
        let underlying = buffer.withUnsafeMutableBufferPointer { rd_kafka_fatal_error(rk, $0.baseAddress, $0.count) }
        let detail = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        context.logger.critical("fatal producer error: \(KafkaError(underlying, message: detail))")
    } else {
        context.logger.warning("producer error: \(KafkaError(err, message: text))")
    }
}
