import TokenwatchCore

/// Deterministic synthetic usage events for `loadgen`, `demo` and tests: the same seed gives the same stream.
public struct SyntheticTraffic: Sendable {
    /// One synthetic user and the persona that drives it.
    public struct User: Sendable {
        public var id: String
        public var team: String
        public var persona: String
        /// Relative activity: how often this user is picked.
        var weight: Double
        var meanInput: Double
        var meanOutput: Double
        var acceptRate: Double
    }

    public private(set) var users: [User] = []
    var rng: SplitMix
    var cumulative: [Double] = []
    var sequence = 0
    let seed: UInt64

    public init(users count: Int, seed: UInt64) {
        self.seed = seed
        rng = SplitMix(seed: seed)
        let teamNames = ["payments", "infra", "search", "mobile", "data", "web", "platform", "security", "growth", "ml"]
        let teamCount = max(1, min(teamNames.count, count / 8 + 1))
        var total = 0.0
        for i in 0..<max(count, 1) {
            let team = teamNames[Int(rng.next() % UInt64(teamCount))]
            let weight = 0.3 + rng.unit() * 1.7
            let user = User(id: syntheticUserId(i), team: team, persona: "regular", weight: weight,
                            meanInput: 400 + rng.unit() * 3000, meanOutput: 100 + rng.unit() * 800,
                            acceptRate: 0.2 + rng.unit() * 0.5)
            users.append(user)
            total += weight
            cumulative.append(total)
        }
    }

    /// One event at event time `ts`, as the JSON bytes the contract describes, with its key.
    public mutating func next(ts: Int64) -> (key: String, value: [UInt8]) {
        let pick = rng.unit() * (cumulative.last ?? 1)
        var lo = 0, hi = cumulative.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cumulative[mid] < pick { lo = mid + 1 } else { hi = mid }
        }
        let u = users[onShift(from: lo, ts: ts)]
        sequence += 1
        let input = Int64(u.meanInput * (0.2 + rng.unit() * 1.6))
        let output = Int64(u.meanOutput * (0.2 + rng.unit() * 1.6))
        let accepted = rng.unit() < u.acceptRate
        let kinds = ["chat", "completion", "agent_step"]
        let tools = ["ide-chat", "cli-agent", "meshclaw"]
        var w = JSONWriter(capacity: 320)
        w.beginObject()
        w.key("event_id"); w.string("lg-\(seed)-\(sequence)")
        w.key("ts"); w.int(ts)
        w.key("user_id"); w.string(u.id)
        w.key("team"); w.string(u.team)
        w.key("tool"); w.string(tools[Int(rng.next() % 3)])
        w.key("model"); w.string("model-\(rng.next() % 3)")
        w.key("kind"); w.string(kinds[Int(rng.next() % 3)])
        w.key("source"); w.string("interactive")
        w.key("session_id"); w.string("s-\(u.id)-\(sequence / 20)")
        w.key("prompt_hash"); w.string("p\(rng.next() % 1_000_000)")
        w.key("input_tokens"); w.int(input)
        w.key("output_tokens"); w.int(output)
        w.key("cache_read_tokens"); w.int(Int64(rng.next() % 500))
        w.key("outcome")
        w.beginObject()
        w.key("accepted"); w.bool(accepted)
        w.key("lines_added"); w.int(accepted ? Int64(rng.next() % 40) : 0)
        w.key("lines_removed"); w.int(accepted ? Int64(rng.next() % 10) : 0)
        w.key("commits"); w.int(accepted && rng.next() % 10 == 0 ? 1 : 0)
        w.key("prs"); w.int(0)
        w.endObject()
        w.endObject()
        return (u.id, w.bytes)
    }

    /// People work a 10-hour shift a day, starting at an hour of their own (spread over the day, like
    /// offices in several time zones): someone picked outside their shift hands the request to the next
    /// user who is on shift. Without shifts every user of a long run was active in nearly every hour of
    /// the day, which is what `machine_cadence` rightly flags as a script. A shift has two hours off
    /// (its 4th and 8th): requests picked at random are memoryless, and hours of them without a break
    /// are what `machine_cadence`'s unbroken-stretch signal flags as a script too.
    static let shiftHours: Int64 = 10
    static let breakHours: Set<Int64> = [3, 7]

    func shiftStart(_ i: Int) -> Int64 { Int64((i &* 7 &+ Int(seed % 24)) % 24) }

    func onShift(from picked: Int, ts: Int64) -> Int {
        let hour = ((ts / 3_600_000) % 24 + 24) % 24
        for k in 0..<users.count {
            let i = (picked + k) % users.count
            let offset = (hour - shiftStart(i) + 24) % 24
            if offset < Self.shiftHours && !Self.breakHours.contains(offset) { return i }
        }
        return picked
    }

    /// Ground truth: user id → persona, as JSON.
    public func labelsJSON() -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("seed"); w.int(Int64(bitPattern: seed))
        w.key("users")
        w.beginObject()
        for u in users {
            w.rawKey(u.id)
            w.beginObject()
            w.key("persona"); w.string(u.persona)
            w.key("team"); w.string(u.team)
            w.endObject()
        }
        w.endObject()
        w.endObject()
        return w.bytes
    }
}

/// `user000042`-style ids, stable and sortable.
func syntheticUserId(_ i: Int) -> String {
    let digits = "\(i)"
    return "user" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
}

