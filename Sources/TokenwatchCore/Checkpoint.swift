/// Little-endian binary encoding for checkpoints.
struct BinaryWriter {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func i64(_ v: Int64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func i32(_ v: Int32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func f64(_ v: Double) { u64(v.bitPattern) }
    mutating func int(_ v: Int) { i64(Int64(v)) }
    mutating func string(_ s: String) {
        var s = s
        s.withUTF8 { string(bytes: UnsafeRawBufferPointer($0)) }
    }
    mutating func string(bytes b: UnsafeRawBufferPointer) {
        int(b.count)
        bytes.append(contentsOf: b)
    }
    /// Overwrites 8 bytes at `offset` (header fields filled in last).
    mutating func patch(_ v: UInt64, at offset: Int) {
        for k in 0..<8 { bytes[offset + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(k))) }
    }
}

/// Reads what `BinaryWriter` wrote, defensively: every read is bounds-checked, every count is
/// checked against the bytes left *before* anything is allocated for it, and nothing traps. Any
/// problem throws `Corrupt`.
struct BinaryReader {
    struct Corrupt: Error {}

    /// Largest magnitude accepted for an event time or bucket (about a million years in ms); keeps
    /// every later `time ± duration` from overflowing. `Int64.min` (never set) is accepted too.
    static let timeLimit: Int64 = 1 << 55

    let bytes: [UInt8]
    var i: Int

    var remaining: Int { bytes.count - i }

    @inline(__always) mutating func load<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let at = i
        guard MemoryLayout<T>.size <= bytes.count - at else { throw Corrupt() }
        let v = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: T.self) }
        i = at + MemoryLayout<T>.size
        return T(littleEndian: v)
    }

    mutating func u8() throws -> UInt8 { try load(UInt8.self) }
    mutating func u16() throws -> UInt16 { try load(UInt16.self) }
    mutating func u32() throws -> UInt32 { try load(UInt32.self) }
    mutating func i32() throws -> Int32 { try load(Int32.self) }
    mutating func u64() throws -> UInt64 { try load(UInt64.self) }
    mutating func i64() throws -> Int64 { try load(Int64.self) }

    /// A finite double that converts to `Int64` without trapping (scores, evidence, averages).
    mutating func f64() throws -> Double {
        let v = Double(bitPattern: try u64())
        guard v.isFinite, v.magnitude < 9.2e18 else { throw Corrupt() }
        return v
    }

    /// The number of items that follow, each encoded in at least `minBytes` bytes: only a count
    /// the rest of the checkpoint can hold is accepted, so what is allocated for it is bounded by
    /// the checkpoint's own size.
    mutating func count(each minBytes: Int) throws -> Int {
        let n = try i64()
        guard n >= 0, n <= Int64(remaining / max(minBytes, 1)) else { throw Corrupt() }
        return Int(n)
    }

    /// A counter (not a length): any non-negative value.
    mutating func nonNegative() throws -> Int {
        let n = try i64()
        guard n >= 0 else { throw Corrupt() }
        return Int(n)
    }

    /// An event time or bucket: `Int64.min` or within `timeLimit`.
    mutating func time() throws -> Int64 {
        let t = try i64()
        guard t == .min || t.magnitude <= UInt64(Self.timeLimit) else { throw Corrupt() }
        return t
    }

    /// A dense id (user, team) below `count`.
    mutating func id(below count: Int) throws -> UInt32 {
        let v = try u32()
        guard Int(v) < count else { throw Corrupt() }
        return v
    }

    /// The bytes of a length-prefixed string, without copying.
    mutating func stringBytes() throws -> ArraySlice<UInt8> {
        let n = try count(each: 1)
        defer { i += n }
        return bytes[i..<(i + n)]
    }

    mutating func string() throws -> String { String(decoding: try stringBytes(), as: UTF8.self) }
}

/// Why a checkpoint could not be restored.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    /// The file does not start with the checkpoint magic.
    case notACheckpoint
    /// Written by a format version this build does not read (`readableCheckpointVersions`).
    case unsupportedVersion(UInt32)
    /// Written with other settings that shape the state; names them, comma-separated, as
    /// `Engine.reconfigure` does (`windows`, `snapshot_interval`, `allowed_lateness`,
    /// `dedup_horizon`, `dedup_max_ids`, `known_users_horizon`, `max_message_bytes`).
    case configurationChanged(String)
    /// The contents do not match the checksum in the header: the file was damaged after it was written.
    case checksumMismatch
    /// Truncated, or a length, count, id or value that a checkpoint cannot hold.
    case corrupt

    public var description: String {
        switch self {
        case .notACheckpoint: "not a tokenwatch checkpoint"
        case .unsupportedVersion(let v):
            "unsupported checkpoint version \(v) (this build reads version \(Engine.checkpointVersion))"
        case .configurationChanged(let what):
            "checkpoint was written with other state-shaping settings (\(what) changed since); "
                + "it restores only with the configuration that wrote it"
        case .checksumMismatch: "checkpoint checksum does not match its contents (the file is damaged)"
        case .corrupt: "checkpoint is truncated or corrupt"
        }
    }
}

extension EventIdFilter {
    func write(to w: inout BinaryWriter) {
        w.i64(oldestKeptBucket); w.int(forgottenEarly)
        let ids = entries
        w.int(ids.count)
        for (f, b) in ids { w.u64(f); w.i64(b) }
    }
}

extension Engine {
    /// One de-duplication memory, as `EventIdFilter.write` wrote it, with this engine's horizon and bound.
    func readFilter(_ r: inout BinaryReader) throws -> EventIdFilter {
        let oldest = try r.time(), forgotten = try r.nonNegative()
        let idCount = try r.count(each: 16)
        var ids: [(UInt64, Int64)] = []
        ids.reserveCapacity(idCount)
        for _ in 0..<idCount {
            let fingerprint = try r.u64(), bucket = try r.time()
            guard fingerprint != 0 else { throw BinaryReader.Corrupt() }  // 0 marks an empty slot
            ids.append((fingerprint, bucket))
        }
        return EventIdFilter(horizonMs: configuration.dedupHorizonMs, maxIds: configuration.dedupMaxIdsPerPartition,
                             entries: ids, oldestKept: oldest, forgottenEarly: forgotten)
    }
}

extension SlidingWindow {
    func write(to w: inout BinaryWriter) {
        w.i64(end)
        w.int(hot.count)
        for u in hot.indices {
            let h = hot[u]
            w.int(cold[u].count + (h.isNone ? 0 : 1))
            for e in cold[u] { Self.write(e, to: &w) }
            if !h.isNone { Self.write(h, to: &w) }
        }
    }

    /// A window that may never have had a user (the unreported counts): a flag, then only its end
    /// when it has none, so a restored empty window is written back the same.
    func writeSparse(to w: inout BinaryWriter) {
        w.u8(hot.isEmpty ? 0 : 1)
        if hot.isEmpty { w.i64(end) } else { write(to: &w) }
    }

    /// Reads what `writeSparse` wrote.
    init(spec: WindowSpec, readingSparse r: inout BinaryReader, users: Int, teams: Int) throws {
        switch try r.u8() {
        case 0:
            let end = try r.i64()
            guard end == Int64.min / 4 || end.magnitude <= UInt64(BinaryReader.timeLimit) else { throw BinaryReader.Corrupt() }
            self.init(spec: spec, end: end)
        case 1: try self.init(spec: spec, reading: &r, users: users, teams: teams)
        default: throw BinaryReader.Corrupt()
        }
    }

    @inline(__always) private static func write(_ e: Entry, to w: inout BinaryWriter) {
        w.i64(e.bucket); w.i64(e.tokens); w.u32(e.team); w.i32(e.teamOffset); w.u32(e.events); w.u32(e.outcomes)
    }

    /// Bytes of one entry in a checkpoint.
    static let entryBytes = 32
    /// Largest span of buckets one window may hold (its calendar has a slot per bucket, so a damaged
    /// bucket far away costs time and memory in proportion): 2^20 one-minute buckets are two years,
    /// far beyond any window plus what may wait ahead of it, and an edited body restores in well under a second.
    static let bucketSpanLimit: Int64 = 1 << 20

    /// Reads a window of `users` users at most, whose entries name teams below `teams`.
    init(spec: WindowSpec, reading r: inout BinaryReader, users: Int, teams: Int) throws {
        let end = try r.i64()
        guard end == Int64.min / 4 || end.magnitude <= UInt64(BinaryReader.timeLimit) else { throw BinaryReader.Corrupt() }
        self.init(spec: spec, end: end)
        let userCount = try r.count(each: 8)
        guard userCount <= users else { throw BinaryReader.Corrupt() }
        ensureUser(UInt32(max(userCount, 1) - 1))
        let start = self.start
        var lowest = Int64.max, highest = Int64.min
        for u in 0..<userCount {
            let n = try r.count(each: Self.entryBytes)
            var list: [Entry] = []
            list.reserveCapacity(n)
            var previous = Int64.min
            for _ in 0..<n {
                let e = Entry(bucket: try r.i64(), tokens: try r.i64(), team: try r.id(below: teams), teamOffset: try r.i32(),
                              events: try r.u32(), outcomes: try r.u32())
                // Stored entries are sorted, none below the window's start, each with an event.
                guard e.bucket > previous, e.bucket >= start, e.bucket.magnitude <= UInt64(BinaryReader.timeLimit),
                      e.events > 0 else { throw BinaryReader.Corrupt() }
                previous = e.bucket
                lowest = min(lowest, e.bucket)
                highest = max(highest, e.bucket)
                guard highest - lowest < Self.bucketSpanLimit else { throw BinaryReader.Corrupt() }
                list.append(e)
            }
            restore(user: UInt32(u), entries: list)
        }
        changed = true
    }
}

extension Engine {
    static let checkpointMagic: [UInt8] = Array("TWCK".utf8)
    /// 2: adds the detection state (per-user signals, queued findings, open alerts, week books).
    /// 3: a header with the body's length and XXH64 checksum; the state-shaping settings field by
    ///    field; every count, id and time validated on restore.
    /// 4: forwarded late events (engine shards) and the known-users window sliding by `knownStepMs` (was a day).
    /// 5: pending events say whether their outcome was reported; per window, the counts of unreported
    ///    events; the signals of `hollow_outcomes`, the unbroken stretch and the last input sizes.
    /// 6: open alerts say the rule's severity when they fired and why they were raised; the persistence
    ///    of each (user, rule) that fired in the last week (`Escalation`); evidence holds eight numbers;
    ///    each user's usual share of a week in the sprint window (`leaderboard_sprint`); each user's human and
    ///    agent time, halved each day (optional telemetry); the days with a long memoryless stretch.
    /// 7: the OTLP ingest state (attribution per tool, unattributed de-duplication, metric series' last readings).
    /// 8: a released user id is written as an empty name (user ids are never empty); 7 is read as it is.
    static let checkpointVersion: UInt32 = 8
    static let readableCheckpointVersions: ClosedRange<UInt32> = 7...8
    /// Magic (4), version (u32), body length (u64), XXH64 of the body (u64).
    static let checkpointHeaderCount = 24
    /// Partition ids a checkpoint may hold (the partition table has a slot per id up to the largest).
    static let checkpointPartitionLimit: Int32 = 1 << 20

    /// The whole state as bytes: restoring it and feeding the messages after `positions` gives
    /// exactly the outputs an uninterrupted engine would have given.
    ///
    /// Layout: header (magic `TWCK`, version, body length, XXH64 of the body), then the body: the
    /// settings that shape the state (see `writeShape`), then the state itself.
    public func checkpoint() -> [UInt8] {
        var w = BinaryWriter()
        w.bytes.append(contentsOf: Self.checkpointMagic)
        w.u32(Self.checkpointVersion)
        w.u64(0); w.u64(0)  // body length and checksum, filled in below
        writeShape(to: &w)
        w.int(users.count)
        for id in 0..<users.count {
            users.withBytes(UInt32(id)) { s in s.withUnsafeBytes { w.string(bytes: $0) } }
        }
        w.int(teams.count)
        for id in 0..<teams.count {
            teams.withBytes(UInt32(id)) { s in s.withUnsafeBytes { w.string(bytes: $0) } }
        }
        for s in suspicion { w.f64(s) }
        w.int(partitions.count)
        for id in partitions.keys {  // ascending
            guard let p = partitions[id] else { continue }
            w.i32(id); w.i64(p.newestTs); w.i64(p.firstTs); w.i64(p.nextOffset)
            p.filter.write(to: &w)
            Self.write(p.pending[p.pendingHead...], to: &w)
        }
        w.i64(unkeyedNewest); unkeyedIds.write(to: &w)
        Self.write(forwardedPending[...], to: &w)
        for window in windows { window.write(to: &w) }
        known.write(to: &w)
        for window in unreported { window.writeSparse(to: &w) }
        w.i64(lastSnapshotAt ?? Int64.min); w.i64(watermark); w.i64(newestAccepted)
        w.int(counters.counted); w.int(counters.service); w.int(counters.duplicates); w.int(counters.snapshots)
        w.int(counters.deadLetters.count)
        for (k, v) in counters.deadLetters.sorted(by: { $0.key < $1.key }) { w.string(k); w.int(v) }
        detector.write(to: &w)
        ingest.write(to: &w)

        let header = Self.checkpointHeaderCount
        let checksum = w.bytes.withUnsafeBytes { XXH64.hash(UnsafeRawBufferPointer(rebasing: $0[header...])) }
        w.patch(UInt64(w.bytes.count - header), at: 8)
        w.patch(checksum, at: 16)
        return w.bytes
    }

    /// The settings that shape the saved state, with the names `reconfigure` reports. A checkpoint
    /// restores only into an engine whose settings all match.
    private func writeShape(to w: inout BinaryWriter) {
        let c = configuration
        w.int(c.windows.count)
        for spec in c.windows { w.i64(spec.lengthMs); w.i64(spec.stepMs) }
        w.i64(c.snapshotIntervalMs)
        w.i64(c.allowedLatenessMs)
        w.i64(c.dedupHorizonMs)
        w.i64(Int64(c.dedupMaxIdsPerPartition))
        w.i64(c.knownUsersHorizonMs)
        w.i64(Int64(c.maxMessageBytes))
    }

    /// Reads the shape and names every setting that differs from this engine's configuration.
    private func checkShape(_ r: inout BinaryReader) throws {
        let c = configuration
        var differs: [String] = []
        let windowCount = try r.count(each: 16)
        var sameWindows = windowCount == c.windows.count
        for k in 0..<windowCount {
            let length = try r.i64(), step = try r.i64()
            if k < c.windows.count && (c.windows[k].lengthMs != length || c.windows[k].stepMs != step) { sameWindows = false }
        }
        if !sameWindows { differs.append("windows") }
        if try r.i64() != c.snapshotIntervalMs { differs.append("snapshot_interval") }
        if try r.i64() != c.allowedLatenessMs { differs.append("allowed_lateness") }
        if try r.i64() != c.dedupHorizonMs { differs.append("dedup_horizon") }
        if try r.i64() != Int64(c.dedupMaxIdsPerPartition) { differs.append("dedup_max_ids") }
        if try r.i64() != c.knownUsersHorizonMs { differs.append("known_users_horizon") }
        if try r.i64() != Int64(c.maxMessageBytes) { differs.append("max_message_bytes") }
        if !differs.isEmpty { throw CheckpointError.configurationChanged(differs.joined(separator: ", ")) }
    }

    /// Checks the header and the checksum of the body before anything of the body is read;
    /// returns where the body starts.
    static func openCheckpoint(_ bytes: [UInt8]) throws(CheckpointError) -> Int {
        let magic = checkpointMagic
        guard bytes.count >= magic.count else {
            // An empty or cut-off file that starts like a checkpoint is a damaged one.
            throw bytes.elementsEqual(magic.prefix(bytes.count)) ? .corrupt : .notACheckpoint
        }
        guard bytes[0..<magic.count].elementsEqual(magic) else { throw .notACheckpoint }
        var r = BinaryReader(bytes: bytes, i: magic.count)
        guard let version = try? r.u32() else { throw .corrupt }
        guard readableCheckpointVersions.contains(version) else { throw .unsupportedVersion(version) }
        guard let length = try? r.u64(), let checksum = try? r.u64() else { throw .corrupt }
        let header = checkpointHeaderCount
        guard length == UInt64(bytes.count - header) else { throw .corrupt }
        let actual = bytes.withUnsafeBytes { XXH64.hash(UnsafeRawBufferPointer(rebasing: $0[header...])) }
        guard actual == checksum else { throw .checksumMismatch }
        return header
    }

    /// Late events waiting for their release (a partition's, or those forwarded from other shards).
    static func write(_ pending: ArraySlice<PendingEvent>, to w: inout BinaryWriter) {
        w.int(pending.count)
        for e in pending {
            w.u32(e.user); w.u32(e.team); w.i64(e.ts); w.i64(e.tokens); w.u32(e.outcomes); w.i64(e.releaseAt); w.u8(e.reported ? 1 : 0)
        }
    }

    static func readPending(_ r: inout BinaryReader, users: Int, teams: Int) throws -> [PendingEvent] {
        let count = try r.count(each: 37)
        var pending: [PendingEvent] = []
        pending.reserveCapacity(count)
        for _ in 0..<count {
            var e = PendingEvent(user: try r.id(below: users), team: try r.id(below: teams), ts: try r.time(),
                                 tokens: try r.i64(), outcomes: try r.u32(), releaseAt: try r.time())
            let reported = try r.u8()
            guard reported <= 1 else { throw BinaryReader.Corrupt() }
            e.reported = reported == 1
            pending.append(e)
        }
        return pending
    }

    /// Restores an engine from `checkpoint()` bytes written with the same state-shaping settings.
    ///
    /// The checksum is verified before anything is decoded; a damaged, truncated or foreign file
    /// throws and never restores wrong numbers, traps or allocates beyond its own size.
    public init(configuration: EngineConfiguration, inputTopic: String = "ai-usage", restoring bytes: [UInt8]) throws(CheckpointError) {
        self.init(configuration: configuration, inputTopic: inputTopic)
        var r = BinaryReader(bytes: bytes, i: try Self.openCheckpoint(bytes))
        do {
            try checkShape(&r)
            try readState(&r)
        } catch let e as CheckpointError {
            throw e
        } catch {
            throw .corrupt
        }
        for i in windows.indices { windows[i].ensureUser(UInt32(max(users.count, 1) - 1)) }
        known.ensureUser(UInt32(max(users.count, 1) - 1))
        // Team counts and board rankings are derived state: rebuilt here and at the first snapshot.
        trackChangedUsers()
        trackVacatedUsers()  // the windows read above replaced the new engine's
        recountKnown()
    }

    private mutating func readState(_ r: inout BinaryReader) throws {
        typealias Corrupt = BinaryReader.Corrupt
        let userCount = try r.count(each: 8)
        guard userCount <= Int(UInt32.max) else { throw Corrupt() }
        users = Interner(capacity: userCount)
        userIsService.reserveCapacity(userCount)
        for _ in 0..<userCount {
            let name = try r.stringBytes()
            if name.isEmpty {  // a released id (version 8)
                users.appendFree()
                userIsService.append(false)
                continue
            }
            let isService = try name.withUnsafeBytes { raw in
                guard users.append(raw) else { throw Corrupt() }  // a user twice would shift every id
                return servicePatterns.contains { $0.matches(raw) }
            }
            userIsService.append(isService)
        }
        let teamCount = try r.count(each: 8)
        guard teamCount >= 1, teamCount <= Int(UInt32.max) else { throw Corrupt() }
        teams = Interner(capacity: max(64, teamCount))
        for _ in 0..<teamCount {
            let name = try r.stringBytes()
            guard name.withUnsafeBytes({ teams.intern($0).isNew }) else { throw Corrupt() }
        }
        guard teams.string(unassignedTeam) == "unassigned" else { throw Corrupt() }
        guard r.remaining / 8 >= userCount else { throw Corrupt() }
        suspicion = []
        suspicion.reserveCapacity(userCount)
        for _ in 0..<userCount {
            let s = try r.f64()
            guard s >= 0, s <= 1 else { throw Corrupt() }
            suspicion.append(s)
        }

        // Per partition at least: id, three times, oldest bucket, forgotten, two counts.
        let partitionCount = try r.count(each: 4 + 7 * 8)
        var previousId: Int32 = -1
        for _ in 0..<partitionCount {
            let id = try r.i32()
            guard id > previousId, id < Self.checkpointPartitionLimit else { throw Corrupt() }
            previousId = id
            var p = PartitionState(filter: EventIdFilter(horizonMs: 1, maxIds: 16))
            p.newestTs = try r.time(); p.firstTs = try r.time(); p.nextOffset = try r.i64()
            guard p.nextOffset >= -1 else { throw Corrupt() }
            p.filter = try readFilter(&r)
            p.pending = try Self.readPending(&r, users: userCount, teams: teamCount)
            partitions[id] = p
        }
        unkeyedNewest = try r.time()
        unkeyedIds = try readFilter(&r)
        forwardedPending = try Self.readPending(&r, users: userCount, teams: teamCount)
        windows = try configuration.windows.map { try SlidingWindow(spec: $0, reading: &r, users: userCount, teams: teamCount) }
        known = try SlidingWindow(spec: known.spec, reading: &r, users: userCount, teams: teamCount)
        unreported = try configuration.windows.map { try SlidingWindow(spec: $0, readingSparse: &r, users: userCount, teams: teamCount) }
        let last = try r.time()
        lastSnapshotAt = last == Int64.min ? nil : last
        watermark = try r.time(); newestAccepted = try r.time()
        counters.counted = try r.nonNegative(); counters.service = try r.nonNegative()
        counters.duplicates = try r.nonNegative(); counters.snapshots = try r.nonNegative()
        for _ in 0..<(try r.count(each: 16)) {
            let reason = try r.string()
            guard counters.deadLetters[reason] == nil else { throw Corrupt() }
            counters.deadLetters[reason] = try r.nonNegative()
        }
        try detector.read(from: &r, users: userCount, teams: teamCount)
        let reader = self  // reads filters with this engine's bounds while `ingest` is written
        var restored = IngestState()
        try restored.read(from: &r) { try reader.readFilter(&$0) }
        ingest = restored
        guard r.remaining == 0 else { throw Corrupt() }
    }
}

extension Detector {
    /// The detection state; the rule settings are not part of it (they may change on reload).
    func write(to w: inout BinaryWriter) {
        w.int(signals.count)
        for s in signals {
            w.u32(s.team); w.u8(s.open); w.u8(s.hashed)
            w.i64(s.hour); w.i64(s.hourTokens); w.u32(s.hourOutcomes); w.u32(s.activeHours); w.u32(s.baseHours)
            w.f64(s.baseTokens); w.f64(s.baseOutcomes)
            w.u32(s.runBeats); w.u32(s.offBeats); w.i64(s.lastTs); w.i64(s.beatTs); w.i64(s.runStart)
            w.f64(s.runMean); w.f64(s.runM2)
            w.u64(s.repeats)
            w.i64(s.queuedSpike); w.i64(s.queuedCadence); w.i64(s.queuedDuplicates)
            for i in 0..<4 { w.u32(s.sizes[i]) }
            w.u32(s.hourAccepted); w.u32(s.hourLines); w.u32(s.hourEvents); w.u32(s.hourReported); w.u64(s.hollowHours)
            w.u32(s.ordinaryHours); w.f64(s.ordinaryTokens); w.f64(s.ordinaryOutcomes); w.f64(s.ordinaryEvents)
            w.i64(s.stretchStart); w.u32(s.stretchEvents); w.u32(s.stretchReported); w.u32(s.stretchOutcomes); w.i64(s.stretchTokens)
            w.f64(s.gapMean); w.f64(s.gapM2); w.i64(s.queuedHollow)
            w.u8(s.sprintWeeks); w.f64(Double(s.sprintShare))
            w.i32(s.presenceDay); w.u32(s.humanMs); w.u32(s.agentMs); w.u8(s.stretchDays); w.i32(s.stretchDay)
        }
        w.int(prompts.count)
        for p in prompts { w.u8(UInt8(p & 0xFF)); w.u8(UInt8(p >> 8)) }
        w.int(queue.count)
        for f in queue {
            w.i64(f.ts); w.i64(f.releaseAt); w.i64(f.seenUntil); w.u32(f.user); w.u32(f.team)
            w.u8(UInt8(f.rule.index)); w.f64(f.score); Self.write(f.evidence, to: &w); w.u32(f.humanMs); w.u32(f.agentMs)
        }
        w.int(open.count)
        for key in open.keys.sorted() {
            guard let a = open[key] else { continue }
            w.u32(a.user); w.u8(UInt8(a.rule.index)); w.u32(a.team); w.i64(a.episodeStart); w.i64(a.lastSeen)
            w.u8(UInt8(a.severity.rank)); w.f64(a.score); w.f64(a.firedScore); Self.write(a.evidence, to: &w)
            w.u8(UInt8(a.ruleSeverity.rank)); w.u8(a.escalation.rawValue); w.u8(a.periods); w.u32(a.humanMs); w.u32(a.agentMs)
        }
        w.int(persistence.count)
        for key in persistence.keys.sorted() {
            guard let p = persistence[key] else { continue }
            w.u64(key); w.i64(p.period); w.u8(p.mask)
        }
        w.int(weeks.count)
        for b in weeks {
            w.i64(b.cutoff)
            w.int(b.active.count)
            for u in b.active {
                let i = Int(u)
                w.u32(u); w.i64(b.tokens[i]); w.u32(b.events[i]); w.u32(b.outcomes[i]); w.i64(b.lateTokens[i]); w.u32(b.lateOutcomes[i])
            }
        }
        w.i64(lastCutoffEvaluated)
        w.int(counters.fired.count)
        for (k, v) in counters.fired.sorted(by: { $0.key < $1.key }) { w.string(k); w.int(v) }
        w.int(counters.resolved); w.int(counters.findings)
    }

    /// Bytes of one `UserSignals`, one queued finding, one open alert, one week-book row.
    static let signalBytes = 4 + 1 + 1 + 8 + 8 + 4 + 4 + 4 + 8 + 8 + 4 + 4 + 8 + 8 + 8 + 8 + 8 + 8 + 8 + 8 + 8
        + 16 + 4 * 4 + 8 + 4 + 8 + 8 + 8 + 8 + 4 * 3 + 8 + 8 + 8 + 8 + 1 + 8 + 4 + 4 * 2 + 1 + 4
    static let findingBytes = 8 + 8 + 8 + 4 + 4 + 1 + 8 + 64 + 8
    static let alertBytes = 4 + 1 + 4 + 8 + 8 + 1 + 8 + 8 + 64 + 3 + 8
    static let persistenceBytes = 8 + 8 + 1
    static let weekRowBytes = 4 + 8 + 4 + 4 + 8 + 4

    /// Reads the signals added in version 4 (hollow_outcomes, the unbroken stretch, the last sizes).
    private static func readExtended(_ s: inout UserSignals, _ r: inout BinaryReader) throws {
        for i in 0..<4 { s.sizes[i] = try r.u32() }
        s.hourAccepted = try r.u32(); s.hourLines = try r.u32(); s.hourEvents = try r.u32(); s.hourReported = try r.u32()
        s.hollowHours = try r.u64()
        s.ordinaryHours = try r.u32(); s.ordinaryTokens = try r.f64(); s.ordinaryOutcomes = try r.f64(); s.ordinaryEvents = try r.f64()
        s.stretchStart = try r.time(); s.stretchEvents = try r.u32(); s.stretchReported = try r.u32(); s.stretchOutcomes = try r.u32()
        s.stretchTokens = try r.i64(); s.gapMean = try r.f64(); s.gapM2 = try r.f64(); s.queuedHollow = try r.time()
        s.sprintWeeks = try r.u8(); s.sprintShare = Float(try r.f64())
        s.presenceDay = try r.i32(); s.humanMs = try r.u32(); s.agentMs = try r.u32()
        s.stretchDays = try r.u8(); s.stretchDay = try r.i32()
        // Counts within the hour and the stretch are parts of their totals.
        guard s.hourReported <= s.hourEvents, s.hourAccepted <= s.hourEvents, s.stretchReported <= s.stretchEvents,
              s.stretchEvents == 0 || s.stretchStart != .min, s.gapM2 >= 0,
              s.sprintShare >= 0 && s.sprintShare <= 1 else { throw BinaryReader.Corrupt() }
    }

    /// Reads the detection state of at most `users` users, naming teams below `teams`.
    mutating func read(from r: inout BinaryReader, users: Int, teams: Int) throws {
        let n = try readSignals(&r, users: users, teams: teams)
        let promptCount = try r.count(each: 2)
        guard promptCount == n * DuplicatePromptsRule.recent else { throw BinaryReader.Corrupt() }
        prompts = []
        prompts.reserveCapacity(promptCount)
        for _ in 0..<promptCount { prompts.append(try r.u16()) }
        ensureUser(UInt32(max(users, 1) - 1))
        try readQueue(&r, users: users, teams: teams)
        try readOpenAlerts(&r, users: users, teams: teams)
        try readPersistence(&r, users: users)
        try readWeeks(&r, users: users)
        lastCutoffEvaluated = try r.time()
        try readCounters(&r)
        changed = true
    }

    /// The per-user signals; returns how many users they cover.
    private mutating func readSignals(_ r: inout BinaryReader, users: Int, teams: Int) throws -> Int {
        let ruleBits = UInt8((1 << RuleKind.byIndex.count) - 1)
        let n = try r.count(each: Self.signalBytes)
        guard n <= users else { throw BinaryReader.Corrupt() }
        signals = []
        signals.reserveCapacity(n)
        for _ in 0..<n {
            var s = UserSignals()
            s.team = try r.id(below: teams); s.open = try r.u8(); s.hashed = try r.u8()
            s.hour = try r.time(); s.hourTokens = try r.i64(); s.hourOutcomes = try r.u32(); s.activeHours = try r.u32(); s.baseHours = try r.u32()
            s.baseTokens = try r.f64(); s.baseOutcomes = try r.f64()
            s.runBeats = try r.u32(); s.offBeats = try r.u32(); s.lastTs = try r.time(); s.beatTs = try r.time(); s.runStart = try r.time()
            s.runMean = try r.f64(); s.runM2 = try r.f64()
            s.repeats = try r.u64()
            s.queuedSpike = try r.time(); s.queuedCadence = try r.time(); s.queuedDuplicates = try r.time()
            try Self.readExtended(&s, &r)
            // Open bits name rules; the beat's times are set together (its arithmetic assumes so).
            guard s.open & ~ruleBits == 0, s.hashed <= 64, (s.lastTs == .min) == (s.beatTs == .min),
                  s.runBeats == 0 || s.runStart != .min else { throw BinaryReader.Corrupt() }
            signals.append(s)
        }
        return n
    }

    /// Findings waiting for their release time.
    private mutating func readQueue(_ r: inout BinaryReader, users: Int, teams: Int) throws {
        let queueCount = try r.count(each: Self.findingBytes)
        queue = []
        queue.reserveCapacity(queueCount)
        for _ in 0..<queueCount {
            queue.append(Finding(ts: try r.time(), releaseAt: try r.time(), seenUntil: try r.time(), user: try r.id(below: users),
                                 team: try r.id(below: teams), rule: try Self.rule(try r.u8()), score: try r.f64(),
                                 evidence: try Self.readEvidence(&r), humanMs: try r.u32(), agentMs: try r.u32()))
        }
    }

    /// Open alerts, one per (user, rule), and the next time one of them is due to resolve.
    private mutating func readOpenAlerts(_ r: inout BinaryReader, users: Int, teams: Int) throws {
        typealias Corrupt = BinaryReader.Corrupt
        open = [:]
        nextDue = .max
        let openCount = try r.count(each: Self.alertBytes)
        open.reserveCapacity(openCount)
        for _ in 0..<openCount {
            let user = try r.id(below: users), rule = try Self.rule(try r.u8())
            let team = try r.id(below: teams), start = try r.time(), lastSeen = try r.time()
            let rank = Int(try r.u8())
            guard let severity = AlertSeverity.allCases.first(where: { $0.rank == rank }), lastSeen != .min else { throw Corrupt() }
            let score = try r.f64(), firedScore = try r.f64(), evidence = try Self.readEvidence(&r)
            let ruleRank = Int(try r.u8()), escalation = EscalationReasons(rawValue: try r.u8()), periods = try r.u8()
            let humanMs = try r.u32(), agentMs = try r.u32()
            guard let ruleSeverity = AlertSeverity.allCases.first(where: { $0.rank == ruleRank }), ruleSeverity <= severity,
                  escalation.rawValue & ~7 == 0, periods >= 1, Int(periods) <= Escalation.span else { throw Corrupt() }
            let a = OpenAlert(user: user, rule: rule, team: team, episodeStart: start, lastSeen: lastSeen, severity: severity,
                              ruleSeverity: ruleSeverity, escalation: escalation, periods: periods, humanMs: humanMs, agentMs: agentMs,
                              score: score, firedScore: firedScore, evidence: evidence)
            let key = Self.key(user, rule)
            guard open[key] == nil else { throw Corrupt() }
            open[key] = a
            nextDue = min(nextDue, a.lastSeen + hold(rule))
        }
    }

    /// The periods in which each (user, rule) has fired, for persistence escalation.
    private mutating func readPersistence(_ r: inout BinaryReader, users: Int) throws {
        persistence = [:]
        for _ in 0..<(try r.count(each: Self.persistenceBytes)) {
            let key = try r.u64(), period = try r.i64(), mask = try r.u8()
            guard key >> 8 < UInt64(users), Int(key & 0xFF) < RuleKind.byIndex.count, mask != 0, persistence[key] == nil
            else { throw BinaryReader.Corrupt() }
            persistence[key] = Persistence(period: period, mask: mask)
        }
    }

    /// The week books, ascending by cutoff as `weeks` is kept.
    private mutating func readWeeks(_ r: inout BinaryReader, users: Int) throws {
        weeks = []
        var previousCutoff = Int64.min
        for _ in 0..<(try r.count(each: 16)) {
            let cutoff = try r.time()
            guard cutoff > previousCutoff else { throw BinaryReader.Corrupt() }
            previousCutoff = cutoff
            var book = WeekBook(cutoff: cutoff)
            for _ in 0..<(try r.count(each: Self.weekRowBytes)) {
                let u = try r.id(below: users)
                let tokens = try r.i64(), events = try r.u32(), outcomes = try r.u32(), late = try r.i64(), lateOutcomes = try r.u32()
                let i = Int(u)
                guard events > 0, i >= book.events.count || book.events[i] == 0 else { throw BinaryReader.Corrupt() }
                book.add(user: u, tokens: 0, outcomes: 0, late: false)
                book.tokens[i] = tokens; book.events[i] = events; book.outcomes[i] = outcomes
                book.lateTokens[i] = late; book.lateOutcomes[i] = lateOutcomes
            }
            weeks.append(book)
        }
    }

    /// Alerts fired by rule, resolved, and findings seen.
    private mutating func readCounters(_ r: inout BinaryReader) throws {
        counters = DetectionCounters()
        for _ in 0..<(try r.count(each: 16)) {
            let rule = try r.string()
            guard counters.fired[rule] == nil else { throw BinaryReader.Corrupt() }
            counters.fired[rule] = try r.nonNegative()
        }
        counters.resolved = try r.nonNegative(); counters.findings = try r.nonNegative()
    }

    static func write(_ e: Evidence, to w: inout BinaryWriter) {
        w.f64(e.a); w.f64(e.b); w.f64(e.c); w.f64(e.d); w.f64(e.e); w.f64(e.f); w.f64(e.g); w.f64(e.h)
    }

    static func readEvidence(_ r: inout BinaryReader) throws -> Evidence {
        Evidence(a: try r.f64(), b: try r.f64(), c: try r.f64(), d: try r.f64(), e: try r.f64(), f: try r.f64(),
                 g: try r.f64(), h: try r.f64())
    }

    static func rule(_ index: UInt8) throws -> RuleKind {
        guard Int(index) < RuleKind.byIndex.count else { throw BinaryReader.Corrupt() }
        return RuleKind.byIndex[Int(index)]
    }
}
