/// OTLP/JSON `ExportMetricsServiceRequest`: the Sum data points, with the building blocks of the logs
/// reader. A series is identified by the text of its attributes (so the same series read as protobuf
/// is another series: one Collector writes one encoding).
extension OTLPJSONLogs {
    /// Every Sum data point of the message, in order.
    static func metricPoints(_ bytes: UnsafeRawBufferPointer) throws(OTLPError) -> [OTLPMetricPoint] {
        var out: [OTLPMetricPoint] = []
        try walkRequest(bytes, signal: .metrics) { r, resource, resourceHash throws(OTLPError) in
            try r.readMetric(resource: resource, resourceHash: resourceHash, into: &out)
        }
        return out
    }

    /// One `Metric`: its name (which may follow its data), then the points of its `sum`, if any.
    private mutating func readMetric(resource: OTLPAttributes, resourceHash: UInt64, into out: inout [OTLPMetricPoint]) throws(OTLPError) {
        var name = ""
        var sumStart: Int?
        try forEachMember(depth: 6) { r, key throws(OTLPError) in
            if r.keyIs(key, "name", "name") {
                name = try r.readString()
            } else if r.keyIs(key, "sum", "sum") {
                sumStart = r.cursor.i
                try r.skipValue(depth: 7)
            } else {
                try r.skipValue(depth: 7)
            }
        }
        guard let sumStart else { return }
        let after = cursor.i
        cursor.i = sumStart
        try readSum(name: name, resource: resource, resourceHash: resourceHash, into: &out)
        cursor.i = after
    }

    private mutating func readSum(name: String, resource: OTLPAttributes, resourceHash: UInt64,
                                  into out: inout [OTLPMetricPoint]) throws(OTLPError) {
        var temporality = OTLPMetricPoint.Temporality.unspecified
        var monotonic = false
        var points: [OTLPMetricPoint] = []
        let nameHash = Array(name.utf8).withUnsafeBytes { ByteHash.hash($0, seed: 7) }
        try forEachMember(depth: 7) { r, key throws(OTLPError) in
            if r.keyIs(key, "aggregationTemporality", "aggregation_temporality") {
                temporality = try r.readTemporality()
            } else if r.keyIs(key, "isMonotonic", "is_monotonic") {
                monotonic = r.cursor.peek() == UInt8(ascii: "t")
                try r.literal(monotonic ? "true" : "false")
            } else if r.keyIs(key, "dataPoints", "data_points") {
                try r.forEachElement(depth: 8) { r throws(OTLPError) in points.append(try r.readPoint(name: name)) }
            } else {
                try r.skipValue(depth: 8)
            }
        }
        for var p in points {
            p.resource = resource
            p.temporality = temporality
            p.isMonotonic = monotonic
            p.series ^= resourceHash ^ nameHash
            out.append(p)
        }
    }

    /// `AGGREGATION_TEMPORALITY_DELTA` / `…_CUMULATIVE`, or the enum's number.
    private mutating func readTemporality() throws(OTLPError) -> OTLPMetricPoint.Temporality {
        if cursor.peek() == UInt8(ascii: "\"") {
            switch try readString() {
            case "AGGREGATION_TEMPORALITY_DELTA": return .delta
            case "AGGREGATION_TEMPORALITY_CUMULATIVE": return .cumulative
            default: return .unspecified
            }
        }
        return OTLPMetricPoint.Temporality(rawValue: UInt64(clamping: try readInt64())) ?? .unspecified
    }

    private mutating func readPoint(name: String) throws(OTLPError) -> OTLPMetricPoint {
        var point = OTLPMetricPoint(name: name)
        try forEachMember(depth: 9) { r, key throws(OTLPError) in
            if r.keyIs(key, "startTimeUnixNano", "start_time_unix_nano") {
                point.startTimeUnixNano = try r.readUInt64()
            } else if r.keyIs(key, "timeUnixNano", "time_unix_nano") {
                point.timeUnixNano = try r.readUInt64()
            } else if r.keyIs(key, "asInt", "as_int") {
                point.value = Double(try r.readInt64())
            } else if r.keyIs(key, "asDouble", "as_double") {
                point.value = try r.readDouble()
            } else if r.keyIs(key, "attributes", "attributes") {
                try r.readAttributes(into: &point.attributes, depth: 10, hashing: true, hash: &point.series)
            } else {
                try r.skipValue(depth: 10)
            }
        }
        return point
    }
}
