/// A Sum point read on a shard, waiting for the one place that holds every series' last value.
///
/// The Collector spreads batches over partitions, so one cumulative series arrives on several shards;
/// only one `MetricDeltas` for all of them turns its readings into amounts without counting a reading twice.
struct MetricObservation: Sendable {
    var point: OTLPMetricPoint
    var context: OTLPContext
}

extension Engine {
    /// The Sum points of an OTLP metrics message: outcome metrics become events (`OTLPMetricMapping`),
    /// the others are skipped. A message that cannot be read is dead-lettered whole.
    mutating func processMetrics(_ payload: UnsafeRawBufferPointer, _ context: OTLPContext, into summary: inout OTLPProcessSummary) {
        let points: [OTLPMetricPoint]
        do throws(OTLPError) {
            points = OTLPLogs.encoding(of: payload) == .json
                ? try OTLPJSONLogs.metricPoints(payload) : try OTLPProtobufMetrics.points(payload)
        } catch {
            summary.deadLetters.append(deadLetter(.otlp(error), payload, context))
            return
        }
        if points.isEmpty {
            summary.deadLetters.append(deadLetter(.otlp(.emptyBatch), payload, context))
            return
        }
        for point in points {
            guard OTLPMetricMapping.target(of: point.name) != nil else {
                summary.skipped += 1
                continue
            }
            let observation = MetricObservation(point: point, context: context)
            if shardRoute != nil {
                metricSeen.append(observation)  // the sharded engine makes it a delta and hands it back
            } else {
                countMetric(observation, delta: ingest.metricDeltas.delta(of: point), into: &summary)
            }
        }
    }

    /// Counts the amount `delta` one outcome metric point adds (see `OTLPMetricMapping`), under the
    /// partition and offset of the message it came in.
    mutating func countMetric(_ observation: MetricObservation, delta: Double, into summary: inout OTLPProcessSummary) {
        switch OTLPMetricMapping.map(observation.point, delta: delta) {
        case .skipped:
            summary.skipped += 1
        case .event(var event):
            _ = resolveIdentity(&event)
            count(event, observation.context, into: &summary)
        case .rejected(let event, let reason):
            reject(OTLPRejectedRecord(event: event, reason: reason), observation.context, into: &summary)
        }
    }

    /// Hands over the metric points read here since the last call (a shard's; see `ShardedEngine`).
    mutating func takeMetricObservations() -> [MetricObservation] {
        defer { metricSeen.removeAll(keepingCapacity: true) }
        return metricSeen
    }

    private mutating func deadLetter(_ reason: DeadLetterReason, _ payload: UnsafeRawBufferPointer,
                                     _ context: OTLPContext) -> DeadLetterReason {
        _ = deadLetter(reason, payload, context.partition, context.offset, context.receivedAtMs)
        return reason
    }
}
