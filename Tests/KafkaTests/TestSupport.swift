import Foundation
import Kafka
import Logging
import Synchronization

/// Collects log entries in memory so tests can look at what librdkafka said, without a global bootstrap.
final class RecordingLogHandler: LogHandler, @unchecked Sendable {
    // @unchecked Sendable: `entries` is a shared Mutex-guarded store; metadata/logLevel are value state
    // copied with the handler, as swift-log expects.
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var source: String
    }

    final class Store: Sendable {
        let entries = Mutex<[Entry]>([])
        var all: [Entry] { entries.withLock { $0 } }
    }

    let store: Store
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    init(store: Store) { self.store = store }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        store.entries.withLock { $0.append(Entry(level: event.level, message: "\(event.message)", source: event.source)) }
        if ProcessInfo.processInfo.environment["KAFKA_TEST_VERBOSE"] != nil {
            print("\(Date().timeIntervalSince1970) [\(event.level)] \(event.source): \(event.message) \(event.metadata ?? [:])")
        }
    }
}

func makeLogger(_ label: String) -> (Logger, RecordingLogHandler.Store) {
    let store = RecordingLogHandler.Store()
    let logger = Logger(label: label) { _ in RecordingLogHandler(store: store) }
    return (logger, store)
}

/// Runs blocking Kafka calls on their own thread, off the cooperative pool.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try body() })
        }
        thread.start()
    }
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
func waitUntil(timeout: Duration, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: 0.02)
    }
    return try condition()
}

/// Settings that make group membership and metadata fast enough for tests on the mock cluster.
func fastClientSettings(_ bootstrap: String) -> [String: String] {
    [
        "bootstrap.servers": bootstrap,
        "topic.metadata.refresh.interval.ms": "1000",
        "reconnect.backoff.ms": "50",
        "reconnect.backoff.max.ms": "500",
    ]
}

func fastProducerSettings(_ bootstrap: String) -> [String: String] {
    var settings = fastClientSettings(bootstrap)
    settings["retry.backoff.ms"] = "50"
    return settings
}

func fastConsumerSettings(_ bootstrap: String, group: String?) -> [String: String] {
    var settings = fastClientSettings(bootstrap)
    // Frequent metadata refreshes make librdkafka 2.0.2 rejoin the group ("subscription updated from
    // metadata change"), and each rejoin costs session.timeout.ms - 1 s on the mock.
    settings["topic.metadata.refresh.interval.ms"] = nil
    settings["auto.offset.reset"] = "earliest"
    settings["fetch.wait.max.ms"] = "50"
    if let group {
        settings["group.id"] = group
        // The mock delays a rejoin by session.timeout.ms - 1 s; it must stay above the mock's 3 s initial
        // join delay, during which the joining member sends no heartbeats.
        settings["session.timeout.ms"] = "4500"
        settings["heartbeat.interval.ms"] = "300"
    }
    return settings
}

/// Produces all messages and waits (bounded) for every delivery report.
func produceAll(
    _ producer: KafkaProducer,
    topic: String,
    _ messages: [(key: String?, value: String)],
    timeout: Duration = .seconds(20)
) throws -> [DeliveryReport] {
    for (index, message) in messages.enumerated() {
        let key = message.key.map { Array($0.utf8) }
        let value = Array(message.value.utf8)
        var enqueued = false
        while !enqueued {
            do {
                try producer.produce(topic: topic, key: key, value: value, token: UInt64(index))
                enqueued = true
            } catch {
                guard error.isRetriable else { throw error }
                // Local queue full: let deliveries drain, then retry.
                Thread.sleep(forTimeInterval: 0.01)
            }
        }
    }
    var reports: [DeliveryReport] = []
    let deadline = ContinuousClock.now + timeout
    while reports.count < messages.count && ContinuousClock.now < deadline {
        reports += producer.pollDeliveries(timeout: .milliseconds(100))
    }
    return reports
}

struct Received: Hashable {
    var partition: Int32
    var offset: Int64
    var key: String
    var value: String
}

/// Polls until `count` messages arrived or `timeout` passed.
func consume(_ consumer: KafkaConsumer, count: Int, timeout: Duration = .seconds(20), batch: Int = 500) -> [Received] {
    var received: [Received] = []
    let deadline = ContinuousClock.now + timeout
    while received.count < count && ContinuousClock.now < deadline {
        _ = consumer.poll(maxMessages: min(batch, count - received.count), timeout: .milliseconds(100)) { message in
            guard message.error == nil else { return }
            received.append(Received(
                partition: message.partition,
                offset: message.offset,
                key: String(decoding: message.key, as: UTF8.self),
                value: String(decoding: message.payload, as: UTF8.self)
            ))
        }
    }
    return received
}
