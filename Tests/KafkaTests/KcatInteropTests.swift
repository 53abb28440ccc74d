import Foundation
import Kafka
import Testing

/// Where kcat is installed, if it is.
private let kcatPath: String? = ["/usr/bin/kcat", "/usr/local/bin/kcat", "/usr/bin/kafkacat"].first {
    FileManager.default.isExecutableFile(atPath: $0)
}

/// Runs kcat with `input` on stdin; returns stdout, or fails after `timeout`.
private func runKcat(_ arguments: [String], input: String? = nil, timeout: Duration = .seconds(20)) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: kcatPath!)
    process.arguments = arguments
    let stdout = Pipe()
    let stdin = Pipe()
    process.standardOutput = stdout
    process.standardInput = stdin
    process.standardError = FileHandle.nullDevice
    try process.run()
    if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
    try stdin.fileHandleForWriting.close()
    // Read concurrently so a large output cannot block kcat on a full pipe.
    let output = Mutex<Data>(Data())
    let reader = Thread { output.withLock { $0 = stdout.fileHandleForReading.readDataToEndOfFile() } }
    reader.start()
    let exited = waitUntil(timeout: timeout) { !process.isRunning }
    if !exited {
        process.terminate()
        throw KafkaError(code: -185, message: "kcat \(arguments.joined(separator: " ")) did not finish within \(timeout)")
    }
    _ = waitUntil(timeout: .seconds(5)) { reader.isFinished }
    return (process.terminationStatus, String(decoding: output.withLock { $0 }, as: UTF8.self))
}

import Synchronization

@Suite("Interoperability with kcat")
struct KcatInteropTests {
    @Test("kcat produces, we consume; we produce, kcat consumes", .enabled(if: kcatPath != nil, "kcat is not installed (apt-get install -y kcat)"))
    func kcatBothWays() async throws {
        let (logger, _) = makeLogger("kcat")
        let cluster = try MockCluster(logger: logger)
        try cluster.createTopic("from-kcat", partitions: 2)
        try cluster.createTopic("to-kcat", partitions: 3)
        let bootstrap = try cluster.startBootstrapProxy(port: 0)

        let sent = (0..<50).map { "user\($0 % 7):payload-\($0)" }
        try await onThread {
            let result = try runKcat(["-b", bootstrap, "-t", "from-kcat", "-K:", "-P"], input: sent.joined(separator: "\n") + "\n")
            #expect(result.status == 0)
            let consumer = try KafkaConsumer(configuration: fastConsumerSettings(bootstrap, group: nil), logger: logger)
            defer { consumer.close() }
            try consumer.assign((Int32(0)..<2).map { TopicPartitionOffset(topic: "from-kcat", partition: $0, offset: TopicPartitionOffset.beginning) })
            let received = consume(consumer, count: 50)
            #expect(received.count == 50)
            #expect(Set(received.map { "\($0.key):\($0.value)" }) == Set(sent))
        }

        let ours = (0..<40).map { (key: "key-\($0 % 5)", value: "value-\($0)") }
        try await onThread {
            let producer = try KafkaProducer(configuration: fastProducerSettings(bootstrap), logger: logger)
            let reports = try produceAll(producer, topic: "to-kcat", ours.map { (key: Optional($0.key), value: $0.value) })
            #expect(reports.count == 40 && reports.allSatisfy { $0.error == nil })
            let result = try runKcat(["-b", bootstrap, "-t", "to-kcat", "-C", "-e", "-o", "beginning", "-f", "%k|%s\n"])
            #expect(result.status == 0)
            let lines = result.output.split(separator: "\n").map(String.init)
            #expect(lines.count == 40)
            #expect(Set(lines) == Set(ours.map { "\($0.key)|\($0.value)" }))
        }
    }
}
