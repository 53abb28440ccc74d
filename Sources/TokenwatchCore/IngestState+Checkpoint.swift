extension IngestState {
    /// Attribution per tool, the unattributed events' de-duplication memory and every metric series'
    /// last reading: without them a restart would start coverage from zero, count a re-sent
    /// unattributed event twice, and take a cumulative series' next reading whole (counting it twice).
    func write(to w: inout BinaryWriter) {
        let tools = attribution.sorted { $0.key < $1.key }
        w.int(tools.count)
        for (tool, a) in tools {
            w.string(tool); w.int(a.attributed); w.int(a.unattributed); w.i64(a.unattributedTokens)
        }
        w.i64(unattributedNewest)
        if let ids = unattributedIds { w.u8(1); ids.write(to: &w) } else { w.u8(0) }
        metricDeltas.write(to: &w)
        w.int(unattributedBuckets.count)
        for (tool, buckets) in unattributedBuckets.sorted(by: { $0.key < $1.key }) {
            w.string(tool); w.int(buckets.count)
            for (b, n) in buckets.sorted(by: { $0.key < $1.key }) { w.i64(b); w.int(n) }
        }
    }

    /// Reads what `write` wrote; `readFilter` reads a de-duplication memory with the engine's bounds.
    mutating func read(from r: inout BinaryReader, readFilter: (inout BinaryReader) throws -> EventIdFilter) throws {
        attribution = [:]
        for _ in 0..<(try r.count(each: 32)) {
            let tool = try r.string()
            let a = ToolAttribution(attributed: try r.nonNegative(), unattributed: try r.nonNegative(),
                                    unattributedTokens: try r.i64())
            guard attribution[tool] == nil, a.unattributedTokens >= 0 else { throw BinaryReader.Corrupt() }
            attribution[tool] = a
        }
        unattributedNewest = try r.time()
        switch try r.u8() {
        case 0: unattributedIds = nil
        case 1: unattributedIds = try readFilter(&r)
        default: throw BinaryReader.Corrupt()
        }
        try metricDeltas.read(from: &r)
        unattributedBuckets = [:]
        for _ in 0..<(try r.count(each: 16)) {
            let tool = try r.string()
            var buckets: [Int64: Int] = [:]
            for _ in 0..<(try r.count(each: 16)) {
                let b = try r.time()
                guard buckets.updateValue(try r.nonNegative(), forKey: b) == nil else { throw BinaryReader.Corrupt() }
            }
            guard unattributedBuckets.updateValue(buckets, forKey: tool) == nil else { throw BinaryReader.Corrupt() }
        }
    }
}

extension MetricDeltas {
    func write(to w: inout BinaryWriter) {
        w.int(resets)
        w.int(last.count)
        for (series, l) in last.sorted(by: { $0.key < $1.key }) {  // sorted: the same state gives the same bytes
            w.u64(series); w.u64(l.start); w.u64(l.time); w.f64(l.value)
        }
    }

    mutating func read(from r: inout BinaryReader) throws {
        resets = try r.nonNegative()
        last = [:]
        let n = try r.count(each: 32)
        last.reserveCapacity(n)
        for _ in 0..<n {
            let series = try r.u64()
            let l = Last(start: try r.u64(), time: try r.u64(), value: try r.f64())
            guard last.updateValue(l, forKey: series) == nil else { throw BinaryReader.Corrupt() }
        }
    }
}
