/// The outcome of one produced message, handed out by ``KafkaProducer/pollDeliveries(timeout:)``.
public struct DeliveryReport: Sendable {
    /// The token passed to ``KafkaProducer/produce(topic:key:value:token:)``.
    public var token: UInt64
    /// nil when the broker acknowledged the message; otherwise why it was not delivered.
    public var error: KafkaError?
    /// The partition the message went to (or was meant for).
    public var partition: Int32
    /// The offset the broker assigned; may be `-1001` (invalid) on failure.
    public var offset: Int64
    /// When the report was served (`CLOCK_MONOTONIC`, ms): the acknowledgement's time when the producer
    /// serves reports on its own thread, else whenever the owner polled.
    public var servedAtMs: Int64

    /// Creates a report (for tests and fakes; the producer makes its own).
    public init(token: UInt64, error: KafkaError?, partition: Int32, offset: Int64, servedAtMs: Int64 = 0) {
        self.token = token
        self.error = error
        self.partition = partition
        self.offset = offset
        self.servedAtMs = servedAtMs
    }
}
