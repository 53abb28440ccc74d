import ArgumentParser
import Foundation
import Kafka
import TokenwatchCore
import TokenwatchService

struct Alerts: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Subscribe to tokenmaxxing alerts: print what is on the alerts topic, optionally following new ones.")

    @OptionGroup var kafka: KafkaClientOptions
    @Option(help: "Alerts topic (default: kafka.alerts_topic).") var topic: String?
    @Flag(help: "Keep running and print new alerts as they arrive (Ctrl-C to stop).") var follow = false
    @Option(help: "Only alerts whose event time is at or after TIME (RFC 3339 or epoch ms).") var since: String?
    @Option(help: "Only this user.") var user: String?
    @Option(help: "Only this team.") var team: String?
    @Option(help: "Only this rule.") var rule: String?
    @Option(help: "Only this severity or above: info, warning, critical.") var minSeverity: String?
    @Flag(help: "Print each alert as one JSON object per line.") var json = false

    static let severities = ["info": 0, "warning": 1, "critical": 2]

    func validate() throws {
        if let minSeverity, Self.severities[minSeverity] == nil {
            throw ValidationError("--min-severity must be info, warning or critical")
        }
    }

    func run() throws {
        let sinceMs = try since.map(parseTime)
        let k = try kafka.load().kafka
        let topic = topic ?? k.alertsTopic
        do {
            try stream(topic: topic, properties: k.clientProperties(), sinceMs: sinceMs)
        } catch {
            FileHandle.standardError.write(Data("tokenwatch alerts: cannot read \(topic) from \(k.brokers): \(error)\n".utf8))
            throw Exit.runtime
        }
    }

    private func stream(topic: String, properties: [String: String], sinceMs: Int64?) throws(KafkaError) {
        let logger = makeLogger("tokenwatch.alerts")
        let consumer = try KafkaConsumer(configuration: properties, logger: logger)
        defer { consumer.close() }
        let count = try consumer.partitionCount(topic: topic, timeout: .seconds(15))
        var ends: [Int32: Int64] = [:]
        var assignment: [TopicPartitionOffset] = []
        for p in 0..<Int32(count) {
            let w = try consumer.watermarks(topic: topic, partition: p, timeout: .seconds(15))
            ends[p] = w.high
            // Following starts at the end unless a start time says otherwise.
            let startAt = (follow && sinceMs == nil) ? w.high : w.low
            assignment.append(TopicPartitionOffset(topic: topic, partition: p, offset: startAt))
        }
        try consumer.assign(assignment)
        var position: [Int32: Int64] = [:]
        for a in assignment { position[a.partition] = a.offset }
        let minimum = minSeverity.flatMap { Self.severities[$0] } ?? 0
        // Without --follow, stop at the end offsets seen at start, or after 5 s with nothing new
        // (transaction markers and compaction leave offsets that never arrive as messages).
        var quietSince = ContinuousClock.now
        let colour = isatty(STDOUT_FILENO) == 1 && (ProcessInfo.processInfo.environment["NO_COLOR"] ?? "").isEmpty
        while follow || (ends.contains(where: { (position[$0.key] ?? 0) < $0.value }) && ContinuousClock.now - quietSince < .seconds(5)) {
            // Partitions interleave: each batch is printed in event-time order.
            var batch: [(ts: Int64, text: String)] = []
            let n = consumer.poll(maxMessages: 1000, timeout: .milliseconds(250)) { m in
                guard m.error == nil else { return }
                position[m.partition] = m.offset + 1
                guard let o = try? JSONSerialization.jsonObject(with: Data(m.payload)) as? [String: Any] else { return }
                let ts = (o["ts"] as? NSNumber)?.int64Value ?? 0
                if let sinceMs, ts < sinceMs { return }
                if let user, o["user_id"] as? String != user { return }
                if let team, o["team"] as? String != team { return }
                if let rule, o["rule"] as? String != rule { return }
                if (Self.severities[o["severity"] as? String ?? ""] ?? 0) < minimum { return }
                if json {
                    batch.append((ts, String(decoding: m.payload, as: UTF8.self)))
                } else {
                    let text = Self.line(o, ts: ts)
                    batch.append((ts, colour ? Self.paint(text, severity: o["severity"] as? String, state: o["state"] as? String) : text))
                }
            }
            for line in batch.sorted(by: { $0.ts < $1.ts }) { print(line.text) }
            if n > 0 { quietSince = ContinuousClock.now }
        }
    }

    /// Colour on a terminal: resolved green, critical red, warning yellow, info cyan.
    static func paint(_ text: String, severity: String?, state: String?) -> String {
        let code = state == "resolved" ? "32" : severity == "critical" ? "31" : severity == "warning" ? "33" : "36"
        return "\u{1B}[\(code)m\(text)\u{1B}[0m"
    }

    /// One alert as a line a person reads.
    static func line(_ o: [String: Any], ts: Int64) -> String {
        let severity = (o["severity"] as? String ?? "?").uppercased()
        let state = o["state"] as? String ?? "?"
        let who = "\(o["user_id"] as? String ?? "?") (\(o["team"] as? String ?? "?"))"
        let summary = o["summary"] as? String ?? ""
        return "\(RFC3339.format(ts))  \(severity.padding(toLength: 8, withPad: " ", startingAt: 0)) \(state.padding(toLength: 8, withPad: " ", startingAt: 0)) \((o["rule"] as? String ?? "?").padding(toLength: 19, withPad: " ", startingAt: 0)) \(who): \(summary)"
    }
}
