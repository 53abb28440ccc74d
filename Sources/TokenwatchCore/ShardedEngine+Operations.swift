extension ShardedEngine {
    static let checkpointMagic: [UInt8] = Array("TWSHARDS".utf8)
    /// 2: the OTLP ingest state shared by the shards (unattributed de-duplication, metric series), after the shards.
    static let checkpointVersion: UInt32 = 2

    /// Every shard's state, and what is shared (snapshot progress): shard count, key partitions,
    /// snapshot time, watermark, then each shard's `Engine.checkpoint()`; an XXH64 of all of it.
    public func checkpoint() -> [UInt8] {
        var w = BinaryWriter()
        w.int(shards.count)
        w.i32(keyedPartitions)
        w.i64(lastSnapshotAt ?? Int64.min); w.i64(watermark); w.int(snapshots)
        for shard in shards {
            let bytes = shard.checkpoint()
            w.int(bytes.count)
            w.bytes.append(contentsOf: bytes)
        }
        ingest.write(to: &w)
        var out = BinaryWriter()
        out.bytes.append(contentsOf: Self.checkpointMagic)
        out.u32(Self.checkpointVersion)
        out.u64(w.bytes.withUnsafeBytes { XXH64.hash($0) })
        out.bytes.append(contentsOf: w.bytes)
        return out.bytes
    }

    /// Restores from `checkpoint()` bytes written with the same shard count and state-shaping settings
    /// (another shard count: `configurationChanged("engine.threads")`, the state is rebuilt).
    public init(configuration: EngineConfiguration, inputTopic: String = "ai-usage", shards count: Int, keyedPartitions: Int32,
                keyedBase: Int32 = 0, restoring bytes: [UInt8]) throws(CheckpointError) {
        self.init(configuration: configuration, inputTopic: inputTopic, shards: count, keyedPartitions: keyedPartitions, keyedBase: keyedBase)
        let magic = Self.checkpointMagic
        guard bytes.count >= magic.count, bytes[0..<magic.count].elementsEqual(magic) else {
            throw bytes.count < magic.count && bytes.elementsEqual(magic.prefix(bytes.count)) ? .corrupt : .notACheckpoint
        }
        var r = BinaryReader(bytes: bytes, i: magic.count)
        guard let version = try? r.u32() else { throw .corrupt }
        guard version == Self.checkpointVersion else { throw .unsupportedVersion(version) }
        guard let checksum = try? r.u64() else { throw .corrupt }
        let body = bytes.withUnsafeBytes { XXH64.hash(UnsafeRawBufferPointer(rebasing: $0[r.i...])) }
        guard body == checksum else { throw .checksumMismatch }
        do {
            try readShards(&r, configuration: configuration, inputTopic: inputTopic)
        } catch let e as CheckpointError {
            throw e
        } catch {
            throw .corrupt
        }
    }

    private mutating func readShards(_ r: inout BinaryReader, configuration: EngineConfiguration, inputTopic: String) throws {
        var changed: [String] = []
        if try r.nonNegative() != shards.count { changed.append("engine.threads") }
        if try r.i32() != keyedPartitions { changed.append("input partitions") }
        if !changed.isEmpty { throw CheckpointError.configurationChanged(changed.joined(separator: ", ")) }
        let last = try r.time()
        lastSnapshotAt = last == Int64.min ? nil : last
        watermark = try r.time()
        snapshots = try r.nonNegative()
        for i in shards.indices {
            let length = try r.count(each: 1)
            let route = shards[i].shardRoute
            shards[i] = try Engine(configuration: configuration, inputTopic: inputTopic, restoring: Array(r.bytes[r.i..<(r.i + length)]))
            shards[i].shardRoute = route
            r.i += length
        }
        let reader = shards[0]
        try ingest.read(from: &r) { try reader.readFilter(&$0) }
        guard r.remaining == 0 else { throw BinaryReader.Corrupt() }
    }

    /// Adopts new settings that leave the state's shape alone (see `Engine.reconfigure`), in every shard.
    public mutating func reconfigure(_ new: EngineConfiguration) throws(ReconfigureError) {
        try shards[0].reconfigure(new)  // throws before any shard changed
        for i in shards.indices.dropFirst() { try shards[i].reconfigure(new) }
        cachedBoards = Array(repeating: [], count: cachedBoards.count)
        published = PublishedBoards()
    }

    /// Distinct users held, over every shard.
    public var trackedUsers: Int { shards.reduce(0) { $0 + $1.trackedUsers } }

    /// Per window: users with events in its range as of the last snapshot, over every shard.
    public var activeUsersPerWindow: [(window: String, users: Int)] {
        var total = shards[0].activeUsersPerWindow
        for shard in shards.dropFirst() {
            for (i, w) in shard.activeUsersPerWindow.enumerated() { total[i].users += w.users }
        }
        return total
    }

    /// The user's figures, from the shard that holds the user.
    public func userSummary(_ userId: String) -> UserSummary? {
        for shard in shards { if let s = shard.userSummary(userId) { return s } }
        return nil
    }

    /// The explanation for a user (see `Engine.explain`), from the shard that holds the user, with the
    /// peer rules' team figures over every shard.
    public func explain(_ userId: String, window: String? = nil, resolvingPseudonym: Bool = false) -> Explanation? {
        var id = userId
        if resolvingPseudonym {
            for shard in shards { if let person = shard.person(ofPseudonym: userId) { id = person; break } }
        }
        var figures: [Int: PeerReference] = [:]
        for rule in [shards[0].detector.peer.windowMs, shards[0].detector.lowYield.windowMs] {
            if let i = Detector.window(length: rule, in: shards[0].windows), figures[i] == nil {
                figures[i] = PeerReference(samples: shards.map { $0.peerSample(window: i) })
            }
        }
        for shard in shards {
            if let e = shard.explain(id, window: window, peerFigures: figures) { return e }
        }
        return nil
    }

    /// Alerts fired and resolved, over every shard.
    public var detectionCounters: DetectionCounters {
        var total = DetectionCounters()
        for shard in shards {
            let c = shard.detector.counters
            for (rule, n) in c.fired { total.fired[rule, default: 0] += n }
            total.resolved += c.resolved
            total.findings += c.findings
        }
        return total
    }

    /// Records waiting in the outboxes.
    public var pendingOutputs: Int { outbox.count + shards.reduce(0) { $0 + $1.outbox.count } }
}
