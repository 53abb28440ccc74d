import Foundation
import Kafka
import Logging
import Synchronization
import TokenwatchCore
import TokenwatchService
import TokenwatchSimulation

/// The demo's producer: the mixed population's events, paced so event time runs `speed` times faster
/// than the clock and ends near now (event times never pass the wall clock, which future-skew checks).
final class DemoTraffic: Sendable {
    let brokers: String
    let topic: String
    let users: Int
    let speed: Double
    let startMs: Int64
    let days: Int
    let logger: Logger
    private let stopping = Atomic<Bool>(false)

    init(brokers: String, topic: String, users: Int, speed: Double, duration: Double, logger: Logger) throws {
        self.brokers = brokers
        self.topic = topic
        self.users = users
        self.speed = speed
        self.logger = logger
        // Until Ctrl-C: a simulated week, then the view stays with what it shows.
        let spanMs = duration > 0 ? Int64(duration * speed * 1000) : 7 * 86_400_000
        startMs = (WallClock.nowMs() - spanMs) / 60_000 * 60_000
        days = Int(spanMs / 86_400_000) + 1
    }

    func start() {
        let thread = Thread { [self] in produce() }
        thread.name = "tokenwatch-demo-traffic"
        thread.start()
    }

    func stop() { stopping.store(true, ordering: .relaxed) }

    private func produce() {
        guard var population = try? SyntheticPopulation(scenario: "mixed", users: users, seed: 42, start: startMs, days: days),
              let producer = try? KafkaProducer(configuration: ["bootstrap.servers": brokers, "linger.ms": "20"], logger: logger)
        else { return }
        let began = WallClock.monotonicMs()
        var token: UInt64 = 0
        while let batch = population.nextDay() {
            for e in batch {
                if stopping.load(ordering: .relaxed) || e.ts > WallClock.nowMs() { return }
                wait(until: began + Int64(Double(e.ts - startMs) / speed))
                let (key, value) = population.encode(e)
                token += 1
                while (try? producer.produce(topic: topic, key: Array(key.utf8), value: value, token: token)) == nil {
                    _ = producer.pollDeliveries(timeout: .milliseconds(10))
                }
                if token % 500 == 0 { _ = producer.pollDeliveries(timeout: .zero) }
            }
        }
        _ = producer.flush(timeout: .seconds(5))
    }

    /// Sleeps until the monotonic clock reaches `due`, in short steps so a stop is noticed.
    private func wait(until due: Int64) {
        while !stopping.load(ordering: .relaxed) {
            let left = due - WallClock.monotonicMs()
            if left <= 0 { return }
            usleep(UInt32(min(left, 50) * 1000))
        }
    }
}
