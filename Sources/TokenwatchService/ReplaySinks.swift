import Foundation
import Kafka
import Logging
import TokenwatchCore

/// Writes `leaderboard.jsonl`, `alerts.jsonl` and `deadletter.jsonl` into a directory.
public struct DirectorySink: ReplaySink {
    private var files: [OutputRecord.Kind: FileHandle] = [:]
    private var buffers: [OutputRecord.Kind: [UInt8]] = [:]

    public init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (kind, name) in [(OutputRecord.Kind.leaderboard, "leaderboard.jsonl"), (.alert, "alerts.jsonl"), (.deadLetter, "deadletter.jsonl")] {
            let path = directory + "/" + name
            _ = FileManager.default.createFile(atPath: path, contents: nil)
            guard let h = FileHandle(forWritingAtPath: path) else { throw LineReaderError(path: path, message: "cannot open for writing") }
            try h.truncate(atOffset: 0)
            files[kind] = h
            buffers[kind] = []
        }
    }

    public mutating func write(_ record: OutputRecord) throws {
        buffers[record.kind]!.append(contentsOf: record.value)
        buffers[record.kind]!.append(0x0A)
        if buffers[record.kind]!.count > 1 << 20 { try flush(record.kind) }
    }

    private mutating func flush(_ kind: OutputRecord.Kind) throws {
        try files[kind]!.write(contentsOf: buffers[kind]!)
        buffers[kind]!.removeAll(keepingCapacity: true)
    }

    public mutating func finish() throws {
        for kind in files.keys {
            try flush(kind)
            try files[kind]!.synchronize()
            try files[kind]!.close()
        }
    }
}

/// Produces replayed outputs to topics named with a prefix (default `replay.`), never to the live ones.
public struct TopicSink: ReplaySink {
    let producer: KafkaProducer
    let topics: [OutputRecord.Kind: String]
    private var token: UInt64 = 0
    private var failed = 0

    public init(brokers: String, librdkafka: [String: String], topics: [OutputRecord.Kind: String], logger: Logger) throws {
        var c = librdkafka
        c["bootstrap.servers"] = brokers
        producer = try KafkaProducer(configuration: c, logger: logger)
        self.topics = topics
    }

    public mutating func write(_ record: OutputRecord) throws {
        token += 1
        // Only a full local queue is worth waiting for; anything else (unknown topic, too large, not
        // authorised) ends the replay with the broker's reason.
        failed += try producer.produceWaiting(topic: topics[record.kind]!, key: record.key, value: record.value, token: token)
    }

    public mutating func finish() throws {
        failed += producer.drainDeliveries()
        if failed > 0 { throw KafkaError(code: -1, message: "\(failed) replayed outputs were not delivered") }
    }
}

/// A progress bar with rate and ETA on a terminal; a plain line every five seconds otherwise.
public final class ProgressReporter {
    let tty: Bool
    let enabled: Bool
    var total: Int64 = 0
    var unit = "events"
    var began: Int64 = 0
    var lastDraw: Int64 = 0

    public init(enabled: Bool = true) {
        self.enabled = enabled
        tty = isatty(STDERR_FILENO) == 1
    }

    func start(total: Int64, unit: String) {
        self.total = total
        self.unit = unit
        began = WallClock.monotonicMs()
        lastDraw = began
    }

    func update(done: Int64) {
        guard enabled else { return }
        let now = WallClock.monotonicMs()
        guard now - lastDraw >= (tty ? 200 : 5_000) else { return }
        lastDraw = now
        draw(done: done, now: now)
    }

    private func draw(done: Int64, now: Int64) {
        let seconds = max(Double(now - began) / 1000, 0.001)
        let rate = Double(done) / seconds
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 0
        let eta = rate > 0 && total > done ? Double(total - done) / rate : 0
        if tty {
            let width = 30
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "=", count: filled) + (filled < width ? ">" : "") + String(repeating: " ", count: max(0, width - filled - 1))
            let line = String(format: "\r[%@] %3.0f%% %d/%d %@  %.0f/s  ETA %.0fs ", bar, fraction * 100, done, total, unit, rate, eta)
            FileHandle.standardError.write(Data(line.utf8))
        } else {
            let line = String(format: "replay: %d/%d %@ (%.0f%%), %.0f/s, ETA %.0fs\n", done, total, unit, fraction * 100, rate, eta)
            FileHandle.standardError.write(Data(line.utf8))
        }
    }

    func finish() {
        guard enabled else { return }
        if tty { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
