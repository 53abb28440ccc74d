// What instances that split the input partitions tell each other, through one ordered log (an internal
// topic with one partition): events admitted on one partition for a user another instance owns,
// each partition's arrival at a snapshot time with its peer samples, and each partition's partial
// boards for the merging instance. One log keeps one order: a partition's forwards come before its
// marker for any later snapshot time, so whoever has read a marker has read what came before it.

/// A partition has reached a snapshot time (every event it admitted before it has been counted or
/// forwarded), or here are its samples of the windows the peer rules read at that time.
public struct SnapshotMarker: Sendable, Equatable {
    public var asOf: Int64
    public var partition: Int32
    /// The partition holds nothing at snapshot times up to this one (its instance's first snapshot
    /// started here), so those times need no marker of it.
    public var start: Int64
    /// With the peer rules' samples: window index (or `PeerSample.week`) → the partition's sample;
    /// nil for the arrival.
    public var samples: [Int: PeerSample]?
}

/// One partition's share of every board at one snapshot time, for the instance that merges them.
public struct PartitionReport: Sendable, Equatable {
    public var asOf: Int64
    public var partition: Int32
    /// As in `SnapshotMarker`: the partition's boards are empty at earlier times.
    public var start: Int64
    /// The event time of the partition's first event (`Int64.min`: none yet): one engine publishes its
    /// first boards at the snapshot time after the earliest of these.
    public var firstEvent: Int64
    /// Per window, the partition's partial boards (every scope it has users in).
    public var boards: [[PartialBoard]]
    /// Per window, the partition's users split by the roster (empty without one).
    public var tallies: [[String: RosterTally]]
}

/// One record of the exchange log.
public enum ExchangeRecord: Sendable, Equatable {
    /// An event admitted on one partition for a user whose events are counted on `target`.
    case forward(target: Int32, ForwardedEvent)
    case marker(SnapshotMarker)
    case report(PartitionReport)
    /// The merging instance has published (and the brokers acknowledged) the boards up to this time.
    case merged(asOf: Int64)
}

extension ExchangeRecord {
    static let magic: [UInt8] = Array("TWX1".utf8)

    /// The record's bytes: a magic, a kind, the body and an XXH64 of the body.
    public func encoded() -> [UInt8] {
        var w = BinaryWriter()
        switch self {
        case .forward(let target, let f):
            w.u8(1); w.i32(target); Self.write(f, to: &w)
        case .marker(let m):
            w.u8(2); w.i64(m.asOf); w.i32(m.partition); w.i64(m.start)
            w.int(m.samples.map { $0.count } ?? -1)
            for (key, sample) in (m.samples ?? [:]).sorted(by: { $0.key < $1.key }) {
                w.int(key)
                Self.write(sample, to: &w)
            }
        case .report(let r):
            w.u8(3); w.i64(r.asOf); w.i32(r.partition); w.i64(r.start); w.i64(r.firstEvent)
            w.int(r.boards.count)
            for window in r.boards {
                w.int(window.count)
                for board in window { Self.write(board, to: &w) }
            }
            w.int(r.tallies.count)
            for tally in r.tallies {
                w.int(tally.count)
                for key in tally.keys.sorted() {
                    let t = tally[key]!
                    w.string(key); w.int(t.active); w.int(t.effective); w.int(t.offRoster)
                }
            }
        case .merged(let asOf):
            w.u8(4); w.i64(asOf)
        }
        var out = BinaryWriter()
        out.bytes = Self.magic
        out.u64(w.bytes.withUnsafeBytes { XXH64.hash($0) })
        out.bytes.append(contentsOf: w.bytes)
        return out.bytes
    }

    /// Decodes `encoded()` bytes; nil for anything else (another writer, damage), never a trap.
    public init?(decoding bytes: [UInt8]) {
        guard bytes.count >= Self.magic.count + 8, bytes[0..<Self.magic.count].elementsEqual(Self.magic) else { return nil }
        var r = BinaryReader(bytes: bytes, i: Self.magic.count)
        guard let checksum = try? r.u64(),
              bytes.withUnsafeBytes({ XXH64.hash(UnsafeRawBufferPointer(rebasing: $0[r.i...])) }) == checksum,
              let record = try? Self.read(&r), r.remaining == 0 else { return nil }
        self = record
    }

    private static func read(_ r: inout BinaryReader) throws -> ExchangeRecord {
        switch try r.u8() {
        case 1:
            let target = try r.i32()
            return .forward(target: target, try readForward(&r))
        case 2:
            let asOf = try r.time(), partition = try r.i32(), start = try r.time()
            var samples: [Int: PeerSample]? = nil
            var n = try r.i64()
            if n != -1 {
                r.i -= 8
                n = Int64(try r.count(each: 24))
                samples = [:]
            } else {
                n = 0
            }
            for _ in 0..<n {
                let key = try r.i64()
                guard key >= -1, key < 1 << 16 else { throw BinaryReader.Corrupt() }
                samples?[Int(key)] = try readSample(&r)
            }
            return .marker(SnapshotMarker(asOf: asOf, partition: partition, start: start, samples: samples))
        case 3:
            let asOf = try r.time(), partition = try r.i32(), start = try r.time(), firstEvent = try r.time()
            var boards: [[PartialBoard]] = []
            for _ in 0..<(try r.count(each: 8)) {
                var window: [PartialBoard] = []
                for _ in 0..<(try r.count(each: 48)) { window.append(try readBoard(&r)) }
                boards.append(window)
            }
            var tallies: [[String: RosterTally]] = []
            for _ in 0..<(try r.count(each: 8)) {
                var tally: [String: RosterTally] = [:]
                for _ in 0..<(try r.count(each: 32)) {
                    let key = try r.string()
                    tally[key] = RosterTally(active: try r.nonNegative(), effective: try r.nonNegative(), offRoster: try r.nonNegative())
                }
                tallies.append(tally)
            }
            return .report(PartitionReport(asOf: asOf, partition: partition, start: start, firstEvent: firstEvent,
                                           boards: boards, tallies: tallies))
        case 4:
            return .merged(asOf: try r.time())
        default:
            throw BinaryReader.Corrupt()
        }
    }

    // Metric points are made deltas where their series live and are never forwarded between
    // instances (`PartitionedEngine` keeps them local), so a forward carries an event's bytes only.
    private static func write(_ f: ForwardedEvent, to w: inout BinaryWriter) {
        f.payload.withUnsafeBytes { w.string(bytes: $0) }
        w.i32(f.partition); w.i64(f.offset); w.i64(f.receivedAtMs)
        w.i64(f.admission.releaseAt); w.u8(f.admission.isLate ? 1 : 0); w.int(f.admission.shard)
        w.u8(f.attributed ? 1 : 0)
    }

    private static func readForward(_ r: inout BinaryReader) throws -> ForwardedEvent {
        let payload = Array(try r.stringBytes())
        let partition = try r.i32(), offset = try r.i64(), received = try r.i64()
        let releaseAt = try r.time(), isLate = try r.u8() == 1, shard = try r.nonNegative()
        guard shard < 1 << 20 else { throw BinaryReader.Corrupt() }
        return ForwardedEvent(payload: payload, partition: partition, offset: offset, receivedAtMs: received,
                              admission: .init(releaseAt: releaseAt, isLate: isLate, shard: shard), attributed: try r.u8() == 1)
    }

    private static func write(_ s: PeerSample, to w: inout BinaryWriter) {
        w.int(s.teams.count)
        for team in s.teams.keys.sorted() {
            w.string(team)
            let members = s.teams[team]!
            w.int(members.count)
            for m in members { w.i64(m.tokens); w.i64(m.outcomes); w.i64(m.unreported) }
        }
        w.int(s.week.count)
        for m in s.week { w.i64(m.events); w.i64(m.tokens); w.i64(m.late) }
    }

    private static func readSample(_ r: inout BinaryReader) throws -> PeerSample {
        var s = PeerSample()
        for _ in 0..<(try r.count(each: 16)) {
            let team = try r.string()
            var members: [PeerSample.Member] = []
            for _ in 0..<(try r.count(each: 24)) {
                members.append(PeerSample.Member(tokens: try r.i64(), outcomes: try r.i64(), unreported: try r.i64()))
            }
            s.teams[team] = members
        }
        for _ in 0..<(try r.count(each: 24)) {
            s.week.append(PeerSample.WeekMember(events: try r.i64(), tokens: try r.i64(), late: try r.i64()))
        }
        return s
    }

    private static func write(_ b: PartialBoard, to w: inout BinaryWriter) {
        w.string(b.window); w.string(b.scope)
        w.int(b.activeUsers); w.int(b.knownUsers); w.int(b.effectiveActiveUsers)
        w.int(b.candidates.count)
        for c in b.candidates {
            let e = c.entry
            w.i64(c.value); w.int(e.rank); w.string(e.userId); w.string(e.team)
            w.i64(e.tokens); w.i64(e.events); w.i64(e.outcomes); w.i64(e.effectiveTokens); w.f64(e.suspicion)
            w.int(e.flags.count)
            for flag in e.flags { w.string(flag) }
        }
    }

    private static func readBoard(_ r: inout BinaryReader) throws -> PartialBoard {
        let window = try r.string(), scope = try r.string()
        let active = try r.nonNegative(), known = try r.nonNegative(), effective = try r.nonNegative()
        var candidates: [PartialBoard.Candidate] = []
        for _ in 0..<(try r.count(each: 80)) {
            let value = try r.i64(), rank = try r.nonNegative(), user = try r.string(), team = try r.string()
            let tokens = try r.i64(), events = try r.i64(), outcomes = try r.i64(), effectiveTokens = try r.i64()
            let suspicion = try r.f64()
            var flags: [String] = []
            for _ in 0..<(try r.count(each: 8)) { flags.append(try r.string()) }
            candidates.append(PartialBoard.Candidate(value: value, entry: LeaderboardEntry(
                rank: rank, userId: user, team: team, tokens: tokens, events: events, outcomes: outcomes,
                effectiveTokens: effectiveTokens, suspicion: suspicion, flags: flags)))
        }
        return PartialBoard(window: window, scope: scope, candidates: candidates, activeUsers: active,
                            knownUsers: known, effectiveActiveUsers: effective)
    }
}
