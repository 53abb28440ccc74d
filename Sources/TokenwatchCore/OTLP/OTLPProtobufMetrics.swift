/// One data point of an OTLP Sum metric, with what it takes to turn it into a delta.
public struct OTLPMetricPoint: Sendable, Equatable {
    /// `AggregationTemporality`: 1 delta, 2 cumulative (0 unspecified).
    public enum Temporality: UInt64, Sendable { case unspecified = 0, delta = 1, cumulative = 2 }

    public var name: String
    /// The mapped attributes of the point (its resource's under them, see `value(_:)`).
    public var attributes = OTLPAttributes()
    public var resource = OTLPAttributes()
    /// Identifies the series: the metric name, the resource and every attribute of the point (mapped
    /// or not), independent of their order on the wire.
    public var series: UInt64 = 0
    public var startTimeUnixNano: UInt64 = 0
    public var timeUnixNano: UInt64 = 0
    public var value: Double = 0
    public var temporality = Temporality.unspecified
    public var isMonotonic = false

    public init(name: String) { self.name = name }
}

/// Reads the Sum data points of `ExportMetricsServiceRequest` protobuf (opentelemetry-proto
/// `collector/metrics/v1`); gauges, histograms and summaries are skipped.
public enum OTLPProtobufMetrics {
    private enum Field {
        static let resourceMetrics: UInt64 = 1, resource: UInt64 = 1, scopeMetrics: UInt64 = 2, resourceAttributes: UInt64 = 1
        static let metrics: UInt64 = 2                                   // ScopeMetrics
        static let name: UInt64 = 1, sum: UInt64 = 7                     // Metric
        static let dataPoints: UInt64 = 1, temporality: UInt64 = 2, monotonic: UInt64 = 3  // Sum
        static let start: UInt64 = 2, time: UInt64 = 3, asDouble: UInt64 = 4, asInt: UInt64 = 6, attributes: UInt64 = 7  // NumberDataPoint
    }

    /// Every Sum data point of the message, in order.
    public static func points(_ bytes: UnsafeRawBufferPointer) throws(OTLPError) -> [OTLPMetricPoint] {
        var out: [OTLPMetricPoint] = []
        try ProtobufReader(bytes).forEachMessage(Field.resourceMetrics) { rm throws(OTLPError) in
            var resource = OTLPAttributes()
            var resourceHash: UInt64 = 0
            try rm.forEachMessage(Field.resource) { r throws(OTLPError) in
                try r.forEachMessage(Field.resourceAttributes) { kv throws(OTLPError) in
                    resourceHash ^= hash(kv)
                    try OTLPProtobufLogs.readKeyValue(kv, into: &resource)
                }
            }
            try rm.forEachMessage(Field.scopeMetrics) { scope throws(OTLPError) in
                try scope.forEachMessage(Field.metrics) { metric throws(OTLPError) in
                    try readMetric(metric, resource: resource, resourceHash: resourceHash, into: &out)
                }
            }
        }
        return out
    }

    private static func readMetric(_ metric: ProtobufReader, resource: OTLPAttributes, resourceHash: UInt64,
                                   into out: inout [OTLPMetricPoint]) throws(OTLPError) {
        var name = ""
        var m = metric
        while !m.atEnd {  // the name may follow the data on the wire: find it first
            let (field, wire) = try m.readTag()
            if field == Field.name { try ProtobufReader.expect(wire, .lengthDelimited); name = try m.readString() } else { try m.skip(wire) }
        }
        try metric.forEachMessage(Field.sum) { sum throws(OTLPError) in
            var temporality = OTLPMetricPoint.Temporality.unspecified
            var monotonic = false
            var s = sum
            while !s.atEnd {
                let (field, wire) = try s.readTag()
                switch field {
                case Field.temporality:
                    try ProtobufReader.expect(wire, .varint)
                    temporality = OTLPMetricPoint.Temporality(rawValue: try s.readVarint()) ?? .unspecified
                case Field.monotonic:
                    try ProtobufReader.expect(wire, .varint)
                    monotonic = try s.readVarint() != 0
                default: try s.skip(wire)
                }
            }
            try sum.forEachMessage(Field.dataPoints) { dp throws(OTLPError) in
                var point = try readPoint(dp, name: name)
                point.resource = resource
                point.temporality = temporality
                point.isMonotonic = monotonic
                point.series ^= resourceHash ^ Array(name.utf8).withUnsafeBytes { ByteHash.hash($0, seed: 7) }
                out.append(point)
            }
        }
    }

    private static func readPoint(_ dp: ProtobufReader, name: String) throws(OTLPError) -> OTLPMetricPoint {
        var point = OTLPMetricPoint(name: name)
        var m = dp
        while !m.atEnd {
            let (field, wire) = try m.readTag()
            switch field {
            case Field.start: try ProtobufReader.expect(wire, .fixed64); point.startTimeUnixNano = try m.readFixed64()
            case Field.time: try ProtobufReader.expect(wire, .fixed64); point.timeUnixNano = try m.readFixed64()
            case Field.asDouble: try ProtobufReader.expect(wire, .fixed64); point.value = Double(bitPattern: try m.readFixed64())
            case Field.asInt: try ProtobufReader.expect(wire, .fixed64); point.value = Double(Int64(bitPattern: try m.readFixed64()))
            case Field.attributes:
                try ProtobufReader.expect(wire, .lengthDelimited)
                let kv = try m.readMessage()
                point.series ^= hash(kv)
                try OTLPProtobufLogs.readKeyValue(kv, into: &point.attributes)
            default: try m.skip(wire)
            }
        }
        return point
    }

    /// One attribute's bytes; combined with XOR, so the series does not depend on attribute order.
    private static func hash(_ kv: ProtobufReader) -> UInt64 { ByteHash.hash(kv.remaining, seed: 0x6d65_7472) }
}
