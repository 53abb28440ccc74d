import CRdKafka

/// A message handed out during ``KafkaConsumer/poll(maxMessages:timeout:_:)``; its buffers point into
/// librdkafka's memory and are valid only inside the callback (copy what you keep).
public struct KafkaMessageView {
    /// The partition the message came from.
    public var partition: Int32
    /// The message's offset in its partition (for an error event, the offset it refers to, if any).
    public var offset: Int64
    /// The key bytes; empty when the message has no key.
    public var key: UnsafeRawBufferPointer
    /// The value bytes; empty when the message has no payload (and for error events).
    public var payload: UnsafeRawBufferPointer
    /// The message timestamp in epoch milliseconds (create or log-append time), nil when absent.
    public var timestampMs: Int64?
    /// Set when this is a consumer error event rather than a message (a partition EOF is reported here
    /// only when `enable.partition.eof=true`).
    public var error: KafkaError?

    /// The underlying message, for the lazily computed topic name.
    let message: UnsafeMutablePointer<rd_kafka_message_t>

    /// The topic name; computed on each access and allocates, so avoid it on the hot path.
    public var topic: String {
        guard let rkt = message.pointee.rkt else { return "" }
        return String(cString: rd_kafka_topic_name(rkt))
    }

    /// librdkafka's handle of the message's topic: the same for every message of one topic while the
    /// client lives, so it can stand for the topic without the allocation `topic` costs.
    public var topicHandle: UnsafeRawPointer? {
        message.pointee.rkt.map { UnsafeRawPointer($0) }
    }

    init(_ message: UnsafeMutablePointer<rd_kafka_message_t>) {
        let m = message.pointee
        self.message = message
        self.partition = m.partition
        self.offset = m.offset
        if m.err == RD_KAFKA_RESP_ERR_NO_ERROR {
            self.error = nil
            self.key = UnsafeRawBufferPointer(start: m.key, count: m.key == nil ? 0 : m.key_len)
            self.payload = UnsafeRawBufferPointer(start: m.payload, count: m.payload == nil ? 0 : m.len)
            var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
            let ts = rd_kafka_message_timestamp(message, &type)
            self.timestampMs = type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : ts
        } else {
            // For error events librdkafka puts the error text in the payload.
            self.error = KafkaError(m.err, message: String(cString: rd_kafka_message_errstr(message)))
            self.key = UnsafeRawBufferPointer(start: nil, count: 0)
            self.payload = UnsafeRawBufferPointer(start: nil, count: 0)
            self.timestampMs = nil
        }
    }
}
