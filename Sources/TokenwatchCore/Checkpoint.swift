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
        let b = Array(s.utf8)
        int(b.count)
        bytes.append(contentsOf: b)
    }
}

/// Reads what `BinaryWriter` wrote; every read is bounds-checked.
struct BinaryReader {
    let bytes: [UInt8]
    var i = 0
    struct Truncated: Error {}

    mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
        guard n >= 0, i + n <= bytes.count else { throw Truncated() }
        defer { i += n }
        return bytes[i..<(i + n)]
    }
    mutating func u8() throws -> UInt8 { try take(1).first! }
    mutating func u64() throws -> UInt64 {
        var v: UInt64 = 0
        for (k, b) in try take(8).enumerated() { v |= UInt64(b) << (8 * UInt64(k)) }
        return v
    }
    mutating func i64() throws -> Int64 { Int64(bitPattern: try u64()) }
    mutating func u32() throws -> UInt32 {
        var v: UInt32 = 0
        for (k, b) in try take(4).enumerated() { v |= UInt32(b) << (8 * UInt32(k)) }
        return v
    }
    mutating func i32() throws -> Int32 { Int32(bitPattern: try u32()) }
    mutating func f64() throws -> Double { Double(bitPattern: try u64()) }
    mutating func int() throws -> Int {
        let v = try i64()
        guard v >= 0, v <= Int64(Int32.max) * 64 else { throw Truncated() }
        return Int(v)
    }
    mutating func string() throws -> String { String(decoding: try take(try int()), as: UTF8.self) }
}

/// Why a checkpoint could not be restored.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    case notACheckpoint
    case unsupportedVersion(UInt32)
    /// The checkpoint was written with other windows or engine settings.
    case configurationChanged(String)
    case corrupt

    public var description: String {
        switch self {
        case .notACheckpoint: "not a tokenwatch checkpoint"
        case .unsupportedVersion(let v): "unsupported checkpoint version \(v)"
        case .configurationChanged(let what): "checkpoint was written with a different configuration (\(what))"
        case .corrupt: "checkpoint is truncated or corrupt"
        }
    }
}

extension SlidingWindow {
    func write(to w: inout BinaryWriter) {
        w.i64(end)
        w.int(hot.count)
        for u in hot.indices {
            let list = entries(of: u)
            w.int(list.count)
            for e in list {
                w.i64(e.bucket); w.i64(e.tokens); w.u32(e.team); w.i32(e.teamOffset); w.u32(e.events); w.u32(e.outcomes)
            }
        }
    }

    init(spec: WindowSpec, reading r: inout BinaryReader) throws {
        self.init(spec: spec, end: try r.i64())
        let userCount = try r.int()
        ensureUser(UInt32(max(userCount, 1) - 1))
        for u in 0..<userCount {
            let n = try r.int()
            var list: [Entry] = []
            list.reserveCapacity(n)
            for _ in 0..<n {
                list.append(Entry(bucket: try r.i64(), tokens: try r.i64(), team: try r.u32(), teamOffset: try r.i32(),
                                  events: try r.u32(), outcomes: try r.u32()))
            }
            restore(user: UInt32(u), entries: list)
        }
        changed = true
    }
}

extension Engine {
    static let checkpointMagic: [UInt8] = Array("TWCK".utf8)
    /// 2: adds the detection state (per-user signals, queued findings, open alerts, week books).
    static let checkpointVersion: UInt32 = 2

    /// What must match between the engine that wrote a checkpoint and the one restoring it.
    var checkpointFingerprint: String {
        let windows = configuration.windows.map { "\($0.lengthMs)@\($0.stepMs)" }.joined(separator: ",")
        return "windows=\(windows) interval=\(configuration.snapshotIntervalMs) lateness=\(configuration.allowedLatenessMs) dedup=\(configuration.dedupHorizonMs) known=\(known.spec.lengthMs)"
    }

    /// The whole state as bytes: restoring it and feeding the messages after `positions` gives
    /// exactly the outputs an uninterrupted engine would have given.
    public func checkpoint() -> [UInt8] {
        var w = BinaryWriter()
        w.bytes.append(contentsOf: Self.checkpointMagic)
        w.u32(Self.checkpointVersion)
        w.string(checkpointFingerprint)
        w.int(users.count)
        for s in users.allStrings { w.string(s) }
        w.int(teams.count)
        for s in teams.allStrings { w.string(s) }
        for s in suspicion { w.f64(s) }
        w.int(partitions.count)
        for id in partitions.keys.sorted() {
            let p = partitions[id]!
            w.i32(id); w.i64(p.newestTs); w.i64(p.firstTs); w.i64(p.nextOffset)
            w.i64(p.filter.oldestKeptBucket); w.int(p.filter.forgottenEarly)
            let ids = p.filter.entries
            w.int(ids.count)
            for (f, b) in ids { w.u64(f); w.i64(b) }
            let pending = p.pending[p.pendingHead...]
            w.int(pending.count)
            for e in pending { w.u32(e.user); w.u32(e.team); w.i64(e.ts); w.i64(e.tokens); w.u32(e.outcomes); w.i64(e.releaseAt) }
        }
        for window in windows { window.write(to: &w) }
        known.write(to: &w)
        w.i64(lastSnapshotAt ?? Int64.min); w.i64(watermark); w.i64(newestAccepted)
        w.int(counters.counted); w.int(counters.service); w.int(counters.duplicates); w.int(counters.snapshots)
        w.int(counters.deadLetters.count)
        for (k, v) in counters.deadLetters.sorted(by: { $0.key < $1.key }) { w.string(k); w.int(v) }
        detector.write(to: &w)
        return w.bytes
    }

    /// Restores an engine from `checkpoint()` bytes written with a compatible configuration.
    public init(configuration: EngineConfiguration, inputTopic: String = "ai-usage", restoring bytes: [UInt8]) throws(CheckpointError) {
        self.init(configuration: configuration, inputTopic: inputTopic)
        guard bytes.count >= 8, Array(bytes[0..<4]) == Self.checkpointMagic else { throw .notACheckpoint }
        var r = BinaryReader(bytes: bytes, i: 4)
        do {
            let version = try r.u32()
            guard version == Self.checkpointVersion else { throw CheckpointError.unsupportedVersion(version) }
            let fingerprint = try r.string()
            guard fingerprint == checkpointFingerprint else { throw CheckpointError.configurationChanged(fingerprint) }
            let userCount = try r.int()
            for _ in 0..<userCount {
                let s = try r.string()
                _ = users.intern(s)
                userIsService.append(servicePatterns.contains { $0.matches(s) })
            }
            let teamCount = try r.int()
            teams = Interner(capacity: max(64, teamCount))
            for _ in 0..<teamCount { _ = teams.intern(try r.string()) }
            suspicion = try (0..<userCount).map { _ in try r.f64() }
            for _ in 0..<(try r.int()) {
                let id = try r.i32()
                var p = PartitionState(filter: EventIdFilter(horizonMs: 1, maxIds: 16))
                p.newestTs = try r.i64(); p.firstTs = try r.i64(); p.nextOffset = try r.i64()
                let oldest = try r.i64(), forgotten = try r.int()
                let ids = try (0..<(try r.int())).map { _ in (try r.u64(), try r.i64()) }
                p.filter = EventIdFilter(horizonMs: configuration.dedupHorizonMs, maxIds: configuration.dedupMaxIdsPerPartition,
                                         entries: ids, oldestKept: oldest, forgottenEarly: forgotten)
                p.pending = try (0..<(try r.int())).map { _ in
                    PendingEvent(user: try r.u32(), team: try r.u32(), ts: try r.i64(), tokens: try r.i64(),
                                 outcomes: try r.u32(), releaseAt: try r.i64())
                }
                partitions[id] = p
            }
            windows = try configuration.windows.map { try SlidingWindow(spec: $0, reading: &r) }
            known = try SlidingWindow(spec: known.spec, reading: &r)
            let last = try r.i64()
            lastSnapshotAt = last == Int64.min ? nil : last
            watermark = try r.i64(); newestAccepted = try r.i64()
            counters.counted = try r.int(); counters.service = try r.int(); counters.duplicates = try r.int(); counters.snapshots = try r.int()
            for _ in 0..<(try r.int()) { counters.deadLetters[try r.string()] = try r.int() }
            try detector.read(from: &r, users: userCount)
            guard r.i == bytes.count else { throw CheckpointError.corrupt }
        } catch let e as CheckpointError {
            throw e
        } catch {
            throw .corrupt
        }
        for i in windows.indices { windows[i].ensureUser(UInt32(max(users.count, 1) - 1)) }
        known.ensureUser(UInt32(max(users.count, 1) - 1))
        // Team counts and board caches are derived state.
        let saved = known.changed
        knownPerTeam = [:]
        for u in known.active { knownPerTeam[known.team(of: u) ?? unassignedTeam, default: 0] += 1 }
        known.changed = saved
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
        }
        w.int(prompts.count)
        for p in prompts { w.u8(UInt8(p & 0xFF)); w.u8(UInt8(p >> 8)) }
        w.int(queue.count)
        for f in queue {
            w.i64(f.ts); w.i64(f.releaseAt); w.i64(f.seenUntil); w.u32(f.user); w.u32(f.team)
            w.u8(UInt8(f.rule.index)); w.f64(f.score); Self.write(f.evidence, to: &w)
        }
        w.int(open.count)
        for key in open.keys.sorted() {
            let a = open[key]!
            w.u32(a.user); w.u8(UInt8(a.rule.index)); w.u32(a.team); w.i64(a.episodeStart); w.i64(a.lastSeen)
            w.u8(UInt8(a.severity.rank)); w.f64(a.score); w.f64(a.firedScore); Self.write(a.evidence, to: &w)
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

    mutating func read(from r: inout BinaryReader, users: Int) throws {
        let n = try r.int()
        guard n <= users else { throw BinaryReader.Truncated() }
        signals = []
        signals.reserveCapacity(n)
        for _ in 0..<n {
            var s = UserSignals()
            s.team = try r.u32(); s.open = try r.u8(); s.hashed = try r.u8()
            s.hour = try r.i64(); s.hourTokens = try r.i64(); s.hourOutcomes = try r.u32(); s.activeHours = try r.u32(); s.baseHours = try r.u32()
            s.baseTokens = try r.f64(); s.baseOutcomes = try r.f64()
            s.runBeats = try r.u32(); s.offBeats = try r.u32(); s.lastTs = try r.i64(); s.beatTs = try r.i64(); s.runStart = try r.i64()
            s.runMean = try r.f64(); s.runM2 = try r.f64()
            s.repeats = try r.u64()
            s.queuedSpike = try r.i64(); s.queuedCadence = try r.i64(); s.queuedDuplicates = try r.i64()
            signals.append(s)
        }
        let promptCount = try r.int()
        guard promptCount == n * DuplicatePromptsRule.recent else { throw BinaryReader.Truncated() }
        prompts = try (0..<promptCount).map { _ in
            let lo = try r.u8(), hi = try r.u8()
            return UInt16(lo) | UInt16(hi) << 8
        }
        ensureUser(UInt32(max(users, 1) - 1))
        queue = try (0..<(try r.int())).map { _ in
            Finding(ts: try r.i64(), releaseAt: try r.i64(), seenUntil: try r.i64(), user: try r.u32(), team: try r.u32(),
                    rule: try Self.rule(try r.u8()), score: try r.f64(), evidence: try Self.readEvidence(&r))
        }
        open = [:]
        nextDue = .max
        for _ in 0..<(try r.int()) {
            let user = try r.u32(), rule = try Self.rule(try r.u8())
            let team = try r.u32(), start = try r.i64(), lastSeen = try r.i64()
            let rank = Int(try r.u8())
            guard let severity = AlertSeverity.allCases.first(where: { $0.rank == rank }) else { throw BinaryReader.Truncated() }
            let a = OpenAlert(user: user, rule: rule, team: team, episodeStart: start, lastSeen: lastSeen, severity: severity,
                              score: try r.f64(), firedScore: try r.f64(), evidence: try Self.readEvidence(&r))
            guard Int(user) < signals.count else { throw BinaryReader.Truncated() }
            open[Self.key(user, rule)] = a
            nextDue = min(nextDue, a.lastSeen + hold(rule))
        }
        weeks = []
        for _ in 0..<(try r.int()) {
            var book = WeekBook(cutoff: try r.i64())
            for _ in 0..<(try r.int()) {
                let u = try r.u32()
                let tokens = try r.i64(), events = try r.u32(), outcomes = try r.u32(), late = try r.i64(), lateOutcomes = try r.u32()
                book.add(user: u, tokens: 0, outcomes: 0, late: false)
                let i = Int(u)
                book.tokens[i] = tokens; book.events[i] = events; book.outcomes[i] = outcomes
                book.lateTokens[i] = late; book.lateOutcomes[i] = lateOutcomes
            }
            weeks.append(book)
        }
        lastCutoffEvaluated = try r.i64()
        counters = DetectionCounters()
        for _ in 0..<(try r.int()) { counters.fired[try r.string()] = try r.int() }
        counters.resolved = try r.int(); counters.findings = try r.int()
        changed = true
    }

    static func write(_ e: Evidence, to w: inout BinaryWriter) {
        w.f64(e.a); w.f64(e.b); w.f64(e.c); w.f64(e.d); w.f64(e.e); w.f64(e.f)
    }

    static func readEvidence(_ r: inout BinaryReader) throws -> Evidence {
        Evidence(a: try r.f64(), b: try r.f64(), c: try r.f64(), d: try r.f64(), e: try r.f64(), f: try r.f64())
    }

    static func rule(_ index: UInt8) throws -> RuleKind {
        guard Int(index) < RuleKind.byIndex.count else { throw BinaryReader.Truncated() }
        return RuleKind.byIndex[Int(index)]
    }
}
