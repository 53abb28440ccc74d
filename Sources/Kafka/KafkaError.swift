import CRdKafka

/// A librdkafka error: its `rd_kafka_resp_err_t` code and human-readable text.
///
/// Thrown by every Kafka operation and carried by ``DeliveryReport`` and ``KafkaMessageView``.
public struct KafkaError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The raw `rd_kafka_resp_err_t` value; negative codes are librdkafka-internal (e.g. `-184` queue full),
    /// non-negative ones come from the Kafka protocol.
    public let code: Int32
    /// librdkafka's text for the error (`rd_kafka_err2str`, or the more specific text of the failing call).
    public let message: String
    /// True when retrying the same operation later may succeed: a full local queue, timeouts, transport
    /// failures, leader or coordinator changes, or when librdkafka itself flagged the error as retriable.
    public var isRetriable: Bool
    /// True when the client instance is unusable after this error (librdkafka's fatal errors, e.g. a fenced
    /// idempotent producer); the handle must be recreated.
    public var isFatal: Bool

    /// `"<message> (<rd_kafka_err2name>)"`, e.g. `"Local: Queue full (_QUEUE_FULL)"`.
    public var description: String {
        "\(message) (\(String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(rawValue: code)))))"
    }

    /// Creates an error with an explicit code and text; retriable and fatal flags default from the code.
    public init(code: Int32, message: String, isRetriable: Bool? = nil, isFatal: Bool? = nil) {
        self.code = code
        self.message = message
        self.isRetriable = isRetriable ?? Self.retriableCodes.contains(code)
        self.isFatal = isFatal ?? (code == RD_KAFKA_RESP_ERR__FATAL.rawValue)
    }

    /// An error for a response code, with librdkafka's standard text for it.
    init(_ code: rd_kafka_resp_err_t) {
        self.init(code: code.rawValue, message: String(cString: rd_kafka_err2str(code)))
    }

    /// An error for a response code with a more specific text.
    init(_ code: rd_kafka_resp_err_t, message: String) {
        self.init(code: code.rawValue, message: message)
    }

    /// Takes ownership of an `rd_kafka_error_t` (it is destroyed here) and copies code, text and flags.
    init(consuming error: OpaquePointer) {
        defer { rd_kafka_error_destroy(error) }
        let code = rd_kafka_error_code(error).rawValue
        self.init(
            code: code,
            message: String(cString: rd_kafka_error_string(error)),
            isRetriable: rd_kafka_error_is_retriable(error) != 0 || Self.retriableCodes.contains(code),
            isFatal: rd_kafka_error_is_fatal(error) != 0
        )
    }

    /// Codes that are transient by nature, whatever the call that returned them.
    static let retriableCodes: Set<Int32> = [
        RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue,
        RD_KAFKA_RESP_ERR__TIMED_OUT.rawValue,
        RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE.rawValue,
        RD_KAFKA_RESP_ERR__MSG_TIMED_OUT.rawValue,
        RD_KAFKA_RESP_ERR__TRANSPORT.rawValue,
        RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN.rawValue,
        RD_KAFKA_RESP_ERR__RESOLVE.rawValue,
        RD_KAFKA_RESP_ERR__WAIT_COORD.rawValue,
        RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE.rawValue,
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION.rawValue,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT.rawValue,
        RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION.rawValue,
        RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE.rawValue,
        RD_KAFKA_RESP_ERR_NOT_COORDINATOR.rawValue,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS.rawValue,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND.rawValue,
        RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS.rawValue,
        RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART.rawValue,
    ]

    /// Throws when `code` is not `RD_KAFKA_RESP_ERR_NO_ERROR`.
    static func check(_ code: rd_kafka_resp_err_t, _ what: @autoclosure () -> String? = nil) throws(KafkaError) {
        guard code != RD_KAFKA_RESP_ERR_NO_ERROR else { return }
        if let what = what() {
            throw KafkaError(code, message: "\(what): \(String(cString: rd_kafka_err2str(code)))")
        }
        throw KafkaError(code)
    }
}
