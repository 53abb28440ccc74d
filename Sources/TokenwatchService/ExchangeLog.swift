import Kafka
import Logging
import TokenwatchCore

/// Appends this instance's exchange records (`ExchangeRecord`) to the exchange topic
/// (`<internal_topic_prefix>exchange`): keyed by the group id, every instance's records of one group are
/// on one partition, in one order.
///
/// One idempotent producer keeps its records in the order they were produced, which the protocol needs
/// (a partition's forwards before its arrival at a later snapshot time). A record the brokers did not
/// take breaks that order: `takeFailures()` then says the instance must start again from an epoch.
/// Every record is keyed by the group id, so groups that share the topic never read each other's.
final class ExchangeSender {
    let topic: String
    private let key: [UInt8]
    private let producer: KafkaProducer
    private var token: UInt64 = 0
    /// Deliveries that failed since the last `takeFailures()`.
    private var failures = 0

    init(topic: String, key: [UInt8], configuration: [String: String], logger: Logger) throws {
        self.topic = topic
        self.key = key
        var config = configuration
        config["enable.idempotence"] = "true"
        config["linger.ms"] = config["linger.ms"] ?? "2"
        producer = try KafkaProducer(configuration: config, logger: logger)
    }

    /// Produces `records` in order (waiting while the local queue is full).
    func send(_ records: [ExchangeRecord]) throws(KafkaError) {
        for record in records {
            token += 1
            failures += try producer.produceWaiting(topic: topic, key: key, value: record.encoded(), token: token)
        }
        serve()
    }

    /// Counts the deliveries reported since the last call.
    func serve() {
        failures += producer.pollDeliveries(timeout: .zero).filter { $0.error != nil }.count
    }

    /// Records produced and not yet acknowledged.
    var outstanding: Int { producer.outstanding }

    /// How many deliveries failed since the last call.
    func takeFailures() -> Int {
        serve()
        defer { failures = 0 }
        return failures
    }

    /// Waits up to `timeoutMs` for every record to be acknowledged; false when some are not.
    func flush(timeoutMs: Int64) -> Bool {
        let giveUpAt = WallClock.monotonicMs() + timeoutMs
        failures += producer.drainDeliveries { WallClock.monotonicMs() >= giveUpAt }
        return failures == 0 && producer.outstanding == 0
    }
}

/// Reads the exchange topic from an offset on, decoding each record of one group (its key).
final class ExchangeReader {
    private let consumer: KafkaConsumer
    private let key: [UInt8]
    private let topic: String
    private let partition: Int32
    /// The next offset to read (-1: nothing read yet).
    private var next: Int64 = -1
    /// Records that are not exchange records (another version, damage): passed over, counted.
    private(set) var undecodable = 0

    init(topic: String, key: [UInt8], from offset: Int64, configuration: [String: String], logger: Logger) throws {
        self.key = key
        var config = configuration
        config["group.id"] = nil  // manual assignment; nothing is committed
        config["fetch.wait.max.ms"] = "10"
        consumer = try KafkaConsumer(configuration: config, logger: logger)
        // The group's records are keyed by it, so they are all on the partition the producer's default
        // partitioner (CRC-32 of the key) gives it: one partition, one order, whatever the topic's size.
        let partitions = Int32(max(1, (try? consumer.partitionCount(topic: topic, timeout: .seconds(10))) ?? 1))
        let partition = key.withUnsafeBytes { KeyPartitioner.partition(key: $0, partitions: partitions) }
        self.topic = topic
        self.partition = partition
        let start = offset > 0 ? offset : TopicPartitionOffset.beginning
        try consumer.assign([TopicPartitionOffset(topic: topic, partition: partition, offset: start)])
    }

    deinit { consumer.close() }

    /// Whether the partition has been read to its end as the last fetch saw it.
    var caughtUp: Bool {
        consumer.hasRead(topic: topic, partition: partition, upTo: next)
    }

    /// Hands each record read (waiting up to `timeout` for the first) to `body` with its offset.
    func poll(timeout: Duration = .zero, _ body: (ExchangeRecord, Int64) -> Void) {
        var undecoded = 0
        _ = consumer.poll(maxMessages: 1_024, timeout: timeout) { message in
            guard message.error == nil else { return }
            next = message.offset + 1
            guard message.key.elementsEqual(key) else { return }
            guard let record = ExchangeRecord(decoding: Array(message.payload)) else { undecoded += 1; return }
            body(record, message.offset)
        }
        undecodable += undecoded
    }
}
