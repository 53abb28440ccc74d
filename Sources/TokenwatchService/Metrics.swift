import Foundation
import Synchronization

/// A fixed-bucket latency histogram in the Prometheus sense (cumulative buckets, sum, count).
/// A plain value: the pipeline thread owns one and copies it into the status between batches.
public struct LatencyHistogram: Sendable, Equatable {
    /// Upper bounds in seconds (Prometheus' `le`), `+Inf` implied.
    public static let bounds: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]

    /// This histogram's upper bounds in seconds.
    public let bounds: [Double]
    private let boundsMs: [Double]
    /// Observations per bucket (not cumulative); the last slot is above every bound.
    public private(set) var counts: [Int]
    public private(set) var sumMs: Int64 = 0
    public private(set) var count = 0

    public init(bounds: [Double] = LatencyHistogram.bounds) {
        self.bounds = bounds
        boundsMs = bounds.map { $0 * 1000 }
        counts = Array(repeating: 0, count: bounds.count + 1)
    }

    /// Bounds for a delay that is at least `offsetSeconds` by design (an alert's event time to its
    /// acknowledgement is at least `allowed_lateness`): the same fine steps, past the offset, then the
    /// offset plus `coarseSeconds` (a snapshot interval) and plus that and a second.
    public static func bounds(after offsetSeconds: Double, coarseSeconds: Double) -> [Double] {
        let fine = [0.0, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
        return (fine + [coarseSeconds, coarseSeconds + 1, 2 * coarseSeconds, 600, 3600]).map { offsetSeconds + $0 }
            .reduce(into: [Double]()) { out, b in if b > (out.last ?? 0) { out.append(b) } }
    }

    /// Adds one observation; negative values (clock skew between producer and us) count as zero.
    public mutating func observe(milliseconds: Int64) {
        let v = max(0, milliseconds)
        var i = 0
        let ms = Double(v)
        while i < boundsMs.count && ms > boundsMs[i] { i += 1 }
        counts[i] += 1
        sumMs &+= v
        count += 1
    }
}

/// Counters of the service around the pipeline (reloads, HTTP), shared between threads.
public final class ServiceCounters: Sendable {
    public let reloadsApplied = Atomic<Int>(0)
    public let reloadsRejected = Atomic<Int>(0)
    public let httpRequests = Atomic<Int>(0)
    public let httpUnauthorized = Atomic<Int>(0)
    /// Wall-clock start of the process, epoch ms.
    public let startedAtMs = WallClock.nowMs()

    public init() {}
}

/// Renders the daemon's figures in the Prometheus text exposition format 0.0.4.
///
/// Hand-written rather than swift-metrics + swift-prometheus: the figures already live in one
/// status value the pipeline publishes, and the dependency would lengthen every CI build. No user id
/// is ever a label (per-user numbers go to topics and `/users/<id>`).
public enum PrometheusText {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public static func render(status s: PipelineStatus, counters c: ServiceCounters, nowMs: Int64 = WallClock.nowMs()) -> String {
        var out = Writer()
        writeRoleAndInput(s, to: &out)
        writeProgress(s, nowMs: nowMs, to: &out)
        writeStateAndOutputs(s, nowMs: nowMs, to: &out)
        writeService(c, to: &out)
        return out.text
    }

    /// With several input topics, the topic and Kafka partition of an engine partition; with one (or
    /// before the inputs are known), the partition alone, as the series always read.
    private static func lagLabels(_ s: PipelineStatus, _ id: Int32) -> [(String, String)] {
        let oneTopic = s.inputSources.first?.topic == s.inputSources.last?.topic
        guard !oneTopic, Int(id) < s.inputSources.count, id >= 0 else { return [("partition", String(id))] }
        let source = s.inputSources[Int(id)]
        return [("topic", source.topic), ("partition", String(source.partition))]
    }

    /// Per tool, how many usage events named a person (identities.md); tools, never users, as labels.
    private static func writeAttribution(_ s: PipelineStatus, to out: inout Writer) {
        let tools = s.attribution.sorted { $0.key < $1.key }
        out.metric("tokenwatch_attributed_events_total", .counter, "OTLP usage events that named a person, by tool, since start.",
                   tools.map { ([("tool", $0.key)], Double($0.value.attributed)) })
        out.metric("tokenwatch_unattributed_events_total", .counter,
                   "Distinct OTLP usage events no identity resolved (never ranked), by tool, since start.",
                   tools.map { ([("tool", $0.key)], Double($0.value.unattributed)) })
        out.metric("tokenwatch_unattributed_tokens_total", .counter, "Input and output tokens of unattributed usage events, by tool.",
                   tools.map { ([("tool", $0.key)], Double($0.value.unattributedTokens)) })
        out.metric("tokenwatch_attribution_coverage", .gauge, "Share of a tool's usage events that named a person.",
                   tools.map { ([("tool", $0.key)], $0.value.coverage) })
        out.metric("tokenwatch_otlp_metric_series", .gauge, "OTLP metric series whose last reading is held (for deltas).",
                   [([], Double(s.metricSeries.series))])
        out.metric("tokenwatch_otlp_metric_resets_total", .counter,
                   "Cumulative OTLP metric series seen to reset (a restart, or a counter that dropped).",
                   [([], Double(s.metricSeries.resets))])
    }

    /// The instance's role and what became of its input.
    private static func writeRoleAndInput(_ s: PipelineStatus, to out: inout Writer) {
        out.metric("tokenwatch_up", .gauge, "1 while the daemon runs.", [([], 1)])
        out.metric("tokenwatch_build_info", .gauge, "Always 1; the labels say which build runs.",
                   [([("version", BuildInfo.version), ("commit", BuildInfo.commit)], 1)])
        out.metric("tokenwatch_ready", .gauge, "1 once state is restored and partitions are assigned.", [([], s.ready ? 1 : 0)])
        out.metric("tokenwatch_active", .gauge, "1 on the active instance of the group (it consumes and publishes), 0 on a standby.",
                   [([], s.active ? 1 : 0)])
        out.metric("tokenwatch_messages_consumed_total", .counter, "Messages taken from the input topic since start.",
                   [([], Double(s.consumed))])
        out.metric("tokenwatch_events_total", .counter, "Input messages by what became of them (since the state began).", [
            ([("result", "counted")], Double(s.counters.counted)),
            ([("result", "service_account")], Double(s.counters.service)),
            ([("result", "duplicate")], Double(s.counters.duplicates)),
            ([("result", "dead_letter")], Double(s.counters.deadLetterTotal)),
            ([("result", "already_processed")], Double(s.counters.alreadyProcessed)),
        ])
        out.metric("tokenwatch_unkeyed_events_total", .counter,
                   "Valid events whose message key was not their user_id (de-duplicated across partitions), since start.",
                   [([], Double(s.counters.unkeyed))])
        writeAttribution(s, to: &out)
        out.metric("tokenwatch_dead_letters_total", .counter, "Messages sent to the dead-letter topic, by reason.",
                   s.counters.deadLetters.sorted { $0.key < $1.key }.map { ([("reason", $0.key)], Double($0.value)) })
        out.metric("tokenwatch_snapshots_total", .counter, "Snapshot times emitted (every window and scope at one as_of).",
                   [([], Double(s.counters.snapshots))])
        out.metric("tokenwatch_alerts_total", .counter, "Alerts published since start, by rule.",
                   s.alertsByRule.sorted { $0.key < $1.key }.map { ([("rule", $0.key)], Double($0.value)) })
    }

    /// Lag, watermark, latency and the engine's size.
    private static func writeProgress(_ s: PipelineStatus, nowMs: Int64, to out: inout Writer) {
        out.metric("tokenwatch_consumer_lag_messages", .gauge,
                   "Per assigned partition: high watermark (librdkafka's last fetch) minus the next offset to process.",
                   s.lag.sorted { $0.key < $1.key }.map { (lagLabels(s, $0.key), Double($0.value)) })
        out.metric("tokenwatch_partition_event_time_delay_seconds", .gauge,
                   "Per assigned partition: wall clock minus the newest event time counted from it (the watermark, less engine.allowed_lateness, follows the largest of a partition not idle).",
                   s.partitionNewest.sorted { $0.key < $1.key }.map { (lagLabels(s, $0.key), Double(nowMs - $0.value) / 1000) })
        out.metric("tokenwatch_assigned_partitions", .gauge, "Input partitions assigned to this instance.", [([], Double(s.assigned.count))])
        if let w = s.watermark {
            out.metric("tokenwatch_watermark_timestamp_seconds", .gauge, "The engine watermark (event time), epoch seconds.",
                       [([], Double(w) / 1000)])
            out.metric("tokenwatch_watermark_delay_seconds", .gauge,
                       "Wall clock minus the engine watermark (includes engine.allowed_lateness).", [([], Double(nowMs - w) / 1000)])
        }
        if let last = s.lastSnapshotAt {
            out.metric("tokenwatch_last_snapshot_timestamp_seconds", .gauge, "Event time of the last snapshot emitted, epoch seconds.",
                       [([], Double(last) / 1000)])
        }
        out.histogram("tokenwatch_processing_latency_seconds",
                      "Kafka message timestamp to the end of its batch's processing, sampled once per batch (its last message).",
                      s.processingLatency)
        out.histogram("tokenwatch_batch_duration_seconds", "Time the engine spent on one consumed batch.", s.batchDuration)
        out.histogram("tokenwatch_snapshot_duration_seconds",
                      "Time to emit the snapshot times one batch made due (boards, boundary rules, alerts), when it made any.",
                      s.snapshotDuration)
        out.histogram("tokenwatch_alert_emit_to_ack_seconds",
                      "Alerts: from the watermark passing their snapshot time to the broker acknowledging them.", s.alertEmitToAck)
        out.histogram("tokenwatch_alert_event_to_ack_seconds",
                      "Alerts: from the event time of the behaviour they report to the broker acknowledging them (wall clock).",
                      s.alertEventToAck)
        out.metric("tokenwatch_tracked_users", .gauge, "Distinct users the engine holds an id and counters for.",
                   [([], Double(s.trackedUsers))])
        out.metric("tokenwatch_users_released_total", .counter,
                   "Users whose id and counters were freed after a silence longer than the known-users window (since start).",
                   [([], Double(s.counters.releasedUsers))])
        out.metric("tokenwatch_window_active_users", .gauge, "Users with events in the window's range as of the last snapshot.",
                   s.activeUsers.map { ([("window", $0.window)], Double($0.users)) })
    }

    /// Checkpoints, rebuilt state and outputs held back.
    private static func writeStateAndOutputs(_ s: PipelineStatus, nowMs: Int64, to out: inout Writer) {
        if let at = s.lastCheckpointAtMs {
            out.metric("tokenwatch_checkpoint_age_seconds", .gauge, "Seconds since the last checkpoint was written.",
                       [([], Double(nowMs - at) / 1000)])
        }
        if let ms = s.lastCheckpointWriteMs {
            out.metric("tokenwatch_checkpoint_write_seconds", .gauge, "How long encoding and writing the last checkpoint took.",
                       [([], Double(ms) / 1000)])
        }
        out.histogram("tokenwatch_checkpoint_pause_seconds",
                      "How long consumption stopped for each periodic checkpoint (waiting for acknowledgements, copying the state).",
                      s.checkpointPause)
        out.metric("tokenwatch_changelog_writes_total", .counter, "Checkpoints published to the changelog topic, by outcome.", [
            ([("result", "acknowledged")], Double(s.changelogWrites)), ([("result", "failed")], Double(s.changelogFailures)),
        ])
        if let bytes = s.changelogBytes {
            out.metric("tokenwatch_changelog_checkpoint_bytes", .gauge, "Size of the last checkpoint published to the changelog.",
                       [([], Double(bytes))])
        }
        out.metric("tokenwatch_changelog_restores_total", .counter,
                   "Times this instance took over with the state read from the changelog instead of re-reading the input.",
                   [([], Double(s.changelogRestores))])
        if let ms = s.lastChangelogRestoreMs {
            out.metric("tokenwatch_changelog_restore_seconds", .gauge, "How long the last restore from the changelog took (read and decode).",
                       [([], Double(ms) / 1000)])
        }
        out.metric("tokenwatch_outputs_in_flight", .gauge, "Outputs produced but not yet acknowledged by the broker.",
                   [([], Double(s.inFlight))])
        out.metric("tokenwatch_consumption_paused", .gauge, "1 while consumption is paused for output back-pressure.",
                   [([], s.paused ? 1 : 0)])
        out.metric("tokenwatch_state_rebuilt", .gauge,
                   "1 when this run rebuilt its state from the input (no usable checkpoint; the log says why).",
                   [([], s.rebuildReason == nil ? 0 : 1)])
        out.metric("tokenwatch_state_catching_up", .gauge, "1 while a rebuilt state is still re-reading the input.",
                   [([], s.catchingUp ? 1 : 0)])
        out.metric("tokenwatch_output_errors_total", .counter,
                   "Outputs Kafka refused with an error that is not retriable (they are held back and tried again).",
                   [([], Double(s.outputErrors))])
        out.metric("tokenwatch_outputs_blocked", .gauge, "1 while outputs are held back by an error that is not retriable.",
                   [([], s.outputBlocked == nil ? 0 : 1)])
    }

    /// Reloads, HTTP and the process.
    private static func writeService(_ c: ServiceCounters, to out: inout Writer) {
        out.metric("tokenwatch_reloads_total", .counter, "Configuration reloads (SIGHUP), by result.", [
            ([("result", "applied")], Double(c.reloadsApplied.load(ordering: .relaxed))),
            ([("result", "rejected")], Double(c.reloadsRejected.load(ordering: .relaxed))),
        ])
        out.metric("tokenwatch_http_requests_total", .counter, "HTTP requests served.",
                   [([], Double(c.httpRequests.load(ordering: .relaxed)))])
        out.metric("tokenwatch_http_unauthorized_total", .counter, "HTTP requests refused for a missing or wrong bearer token.",
                   [([], Double(c.httpUnauthorized.load(ordering: .relaxed)))])
        out.metric("process_start_time_seconds", .gauge, "Start time of the process, epoch seconds.",
                   [([], Double(c.startedAtMs) / 1000)])
        if let rss = residentBytes() {
            out.metric("process_resident_memory_bytes", .gauge, "Resident set size.", [([], Double(rss))])
        }
    }

    /// RSS from /proc/self/statm (Linux); nil elsewhere.
    public static func residentBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    enum Kind: String { case counter, gauge, histogram }

    struct Writer {
        var text = ""

        mutating func metric(_ name: String, _ kind: Kind, _ help: String, _ samples: [([(String, String)], Double)]) {
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(kind.rawValue)\n"
            for (labels, value) in samples { sample(name, labels, value) }
        }

        mutating func histogram(_ name: String, _ help: String, _ h: LatencyHistogram) {
            text += "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
            var cumulative = 0
            for (i, bound) in h.bounds.enumerated() {
                cumulative += h.counts[i]
                sample(name + "_bucket", [("le", PrometheusText.number(bound))], Double(cumulative))
            }
            sample(name + "_bucket", [("le", "+Inf")], Double(h.count))
            sample(name + "_sum", [], Double(h.sumMs) / 1000)
            sample(name + "_count", [], Double(h.count))
        }

        mutating func sample(_ name: String, _ labels: [(String, String)], _ value: Double) {
            text += name
            if !labels.isEmpty {
                text += "{" + labels.map { "\($0.0)=\"\(PrometheusText.escape($0.1))\"" }.joined(separator: ",") + "}"
            }
            text += " " + PrometheusText.number(value) + "\n"
        }
    }

    /// Label value escaping of the text format: backslash, double quote and line feed.
    static func escape(_ s: String) -> String {
        var out = ""
        for c in s {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }

    /// Integers without a fraction; other values in Go's float syntax (`NaN`, `+Inf`).
    static func number(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return String(v)
    }
}
