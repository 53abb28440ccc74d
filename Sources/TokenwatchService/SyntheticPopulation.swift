import Foundation
import TokenwatchCore

/// One synthetic usage event, compact until it is encoded as the contract's JSON.
public struct SimEvent: Sendable {
    public var ts: Int64
    /// Index of the member in `SyntheticPopulation.members`.
    public var user: Int32
    var input: Int32 = 0
    var output: Int32 = 0
    var cacheRead: Int32 = 0
    /// Prompt identity (hashed into `prompt_hash`); 0 = the event has none.
    var prompt: UInt64 = 0
    var session: UInt32 = 0
    var linesAdded: UInt16 = 0
    var linesRemoved: UInt16 = 0
    var kind: UInt8 = 0
    var tool: UInt8 = 0
    var source: UInt8 = 0
    var commits: UInt8 = 0
    var prs: UInt8 = 0
    var accepted = false
}

/// A deterministic synthetic population driven by event time: teams in time zones, people with
/// working hours, and one persona per user (`Persona`). Each user's parameters (rates, request sizes,
/// acceptance, hours, and how hard a gaming persona games) are drawn per user from the seed, so the
/// rules cannot be tuned to one fixed shape. Events come out one UTC day at a time, in event-time order.
public struct SyntheticPopulation: Sendable {
    /// Scenarios: `mixed` (a realistic population) or one persona for everyone.
    public static var scenarios: [String] { ["mixed"] + Persona.allCases.map(\.rawValue) }

    public struct Member: Sendable {
        public var id: String
        public var team: String
        public var persona: Persona
        var profile: Profile
        var rng: SplitMix
        /// Events generated past the current day.
        var carry: [SimEvent] = []
        var nextLocalDay = -1
        var tokensSoFar: Int64 = 0
        var lastPrompt: UInt64 = 0
        var sessions: UInt32 = 0
        /// Event time of the next beat of a schedule that runs across days (service, metronome); < 0: none yet.
        var cursor = -1.0
    }

    /// Everything drawn per user.
    struct Profile: Sendable {
        var tzHours = 0.0
        var dayStart = 9.0
        var dayLength = 8.0
        var sessions = 3
        var ratePerHour = 15.0
        var meanIn = 1500.0
        var meanOut = 400.0
        var acceptRate = 0.4
        var commitRate = 0.1
        var retryRate = 0.05
        var weekendProb = 0.05
        var dayOffProb = 0.04
        // Persona specifics.
        var specialDay = -1
        var intensity = 1.0
        var interval = 0.0
        var jitter = 0.0
        var blockHours = 0.0
        var share = 0.0
        var pool: [UInt64] = []
        var flag = false
        var count = 0
        var sourceCI = false
    }

    public let scenario: String
    public let seed: UInt64
    /// Event time of the first day (UTC midnight), and how many days are generated.
    public let start: Int64
    /// UTC midnight on or before `start`: day 0 of the local calendars.
    let origin: Int64
    /// Weekday of `origin`, 0 = Monday.
    let originWeekday: Int
    public let days: Int
    /// The first weekly cutoff after `start`, when it falls inside the simulated span.
    public let cutoff: Int64?
    public private(set) var members: [Member] = []
    /// The next UTC day `nextDay()` returns.
    public private(set) var day = 0
    var sequence = 0

    static let hour: Int64 = 3_600_000
    static let dayMs: Int64 = 86_400_000

    /// A population of `users` people for `scenario`, covering event times `[start, start + days)`
    /// (`start` in epoch ms; weekdays follow the calendar). `weeklyCutoffOffsetMs` places the sprint.
    public init(scenario: String, users: Int, seed: UInt64, start: Int64, days: Int, weeklyCutoffOffsetMs: Int64 = 0) throws {
        guard Self.scenarios.contains(scenario) else {
            throw SyntheticPopulationError.unknownScenario(scenario, Self.scenarios)
        }
        self.scenario = scenario
        self.seed = seed
        self.start = start
        origin = floorDiv(start, Self.dayMs) * Self.dayMs
        originWeekday = Int(((floorDiv(start, Self.dayMs) + 3) % 7 + 7) % 7)  // 1970-01-01 was a Thursday
        self.days = max(days, 1)
        var detection = DetectionConfiguration()
        detection.weeklyCutoffOffsetMs = weeklyCutoffOffsetMs
        let c = detection.cutoff(after: start)
        cutoff = c <= start + Int64(self.days) * Self.dayMs ? c : nil
        var rng = SplitMix(seed: seed ^ 0x70b1_1a7e)
        // Personas: exact counts from the shares, shuffled over the users.
        var personas: [Persona] = []
        let count = max(users, 1)
        if let single = Persona(rawValue: scenario) {
            personas = Array(repeating: single, count: count)
        } else {
            for p in Persona.allCases where p != .regular {
                personas += Array(repeating: p, count: Int((Double(count) * p.mixedShare).rounded()))
            }
            personas = Array(personas.prefix(count))
            personas += Array(repeating: .regular, count: count - personas.count)
            for i in stride(from: personas.count - 1, to: 0, by: -1) {
                personas.swapAt(i, Int(rng.next() % UInt64(i + 1)))
            }
        }
        // Teams of 4 to 30 people, each in a time zone, members sometimes an hour or two off.
        let names = ["payments", "infra", "search", "mobile", "data", "web", "platform", "security", "growth", "ml",
                     "billing", "identity", "checkout", "ads", "maps", "media", "devex", "sre", "api", "store"]
        let zones: [Double] = [-8, -7, -5, -4, -3, 0, 1, 2, 3, 5.5, 8, 9, 10]
        var teams: [(name: String, tz: Double, left: Int)] = []
        var humans = 0
        var serviceIndex = 0
        for (i, persona) in personas.enumerated() {
            var p = Profile()
            let team: String
            if persona == .service {
                team = ["platform", "infra", "devex", "sre"][Int(rng.next() % 4)]
            } else {
                if teams.isEmpty || teams[teams.count - 1].left == 0 {
                    let n = teams.count
                    let name = names[n % names.count] + (n >= names.count ? "-\(n / names.count + 1)" : "")
                    teams.append((name, zones[Int(rng.next() % UInt64(zones.count))], 4 + Int(rng.next() % 27)))
                }
                teams[teams.count - 1].left -= 1
                team = teams[teams.count - 1].name
                p.tzHours = teams[teams.count - 1].tz + (rng.unit() < 0.2 ? Double(Int(rng.next() % 5)) - 2 : 0)
            }
            var id = syntheticUserId(humans)
            if persona == .service {
                switch serviceIndex % 3 {
                case 0: id = "svc-" + ["etl", "indexer", "reviewer", "nightly", "triage", "docs"][serviceIndex / 3 % 6] + "-\(serviceIndex)"
                case 1: id = ["deploy", "release", "lint", "test", "merge", "backport"][serviceIndex / 3 % 6] + "-\(serviceIndex)-bot"
                default: p.sourceCI = true; humans += 1  // a person-like id whose usage all comes from CI
                }
                serviceIndex += 1
            } else {
                humans += 1
            }
            var member = Member(id: id, team: team, persona: persona, profile: p,
                                rng: SplitMix(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(i) &* 0xD1B5_4A32_D192_ED03 &+ 1))
            Self.draw(&member, days: self.days, originWeekday: originWeekday)
            members.append(member)
        }
    }

    /// Draws the member's parameters from its own generator.
    static func draw(_ m: inout Member, days: Int, originWeekday: Int) {
        var r = m.rng
        var p = m.profile
        p.dayStart = 7.5 + r.unit() * 3
        p.dayLength = 6.5 + r.unit() * 3
        p.sessions = 2 + Int(r.next() % 4)
        p.ratePerHour = 6 + r.unit() * 24
        p.meanIn = 400 + r.unit() * 2_600
        p.meanOut = 120 + r.unit() * 580
        p.acceptRate = 0.25 + r.unit() * 0.4
        p.commitRate = 0.05 + r.unit() * 0.1
        p.retryRate = 0.02 + r.unit() * 0.08
        p.weekendProb = r.unit() * 0.15
        let weekdays = (0..<days).filter { ($0 + originWeekday) % 7 < 5 }
        let laterWeekdays = weekdays.filter { $0 >= 2 }
        switch m.persona {
        case .regular, .padder, .service:
            break
        case .powerUser:
            p.dayLength = 9 + r.unit() * 3
            p.sessions = 3 + Int(r.next() % 4)
            p.ratePerHour = 25 + r.unit() * 30
            p.meanIn = 1_500 + r.unit() * 2_000
            p.count = 3 + Int(r.next() % 8)  // agent runs a day
            p.acceptRate = 0.4 + r.unit() * 0.25
            p.share = 0.55 + r.unit() * 0.3  // agent steps accepted
        case .crunch:
            p.specialDay = weekdays.isEmpty ? 0 : weekdays[Int(r.next() % UInt64(weekdays.count))]
            p.intensity = 2 + r.unit() * 2
            p.blockHours = 12 + r.unit() * 4
        case .spiker:
            p.specialDay = laterWeekdays.isEmpty ? days - 1 : laterWeekdays[Int(r.next() % UInt64(min(3, laterWeekdays.count)))]
            p.intensity = 10 + r.unit() * 20
            p.blockHours = 2 + r.unit() * 3
            p.interval = 20 + r.unit() * 40  // spike requests an hour
        case .inflater:
            p.intensity = 2_500_000 + r.unit() * 5_500_000  // padding tokens a workday
        case .loopAgent:
            p.count = 2 + Int(r.next() % 3)  // loops a workday
            p.blockHours = 1.5 + r.unit() * 3.5
            p.flag = r.unit() < 0.5  // re-sends a small set of prompts
        case .metronome:
            p.interval = 30_000 + r.unit() * 270_000
            p.jitter = r.unit() * 0.05
            p.flag = r.unit() < 0.5  // round the clock (else during working hours)
            p.blockHours = 6 + r.unit() * 4
            p.count = 2 + Int(r.next() % 6)  // days round the clock
            p.specialDay = Int(r.next() % UInt64(max(1, days - 1)))
            p.pool = r.unit() < 0.5 ? (0..<3).map { _ in r.next() | 1 } : []
        case .replayer:
            p.share = 0.6 + r.unit() * 0.35
            p.pool = (0..<(1 + Int(r.next() % 6))).map { _ in r.next() | 1 }
            p.intensity = 1 + r.unit()
        case .sprinter:
            p.ratePerHour *= 0.4 + r.unit() * 0.6
            p.share = 0.6 + r.unit() * 0.3
            p.interval = 20 + r.unit() * 40
            p.blockHours = 3 + r.unit() * 11
            p.jitter = 6 + r.unit() * 14  // hours before the cutoff the sprint starts
        }
        if m.persona == .padder {
            p.count = 1 + Int(r.next() % 3)
        }
        if m.persona == .service {
            p.interval = 60_000 + r.unit() * 1_740_000
            p.pool = (0..<(1 + Int(r.next() % 5))).map { _ in r.next() | 1 }
            p.meanIn = 300 + r.unit() * 5_700
        }
        m.rng = r
        m.profile = p
    }

    // MARK: - Events

    /// The events of the next UTC day, sorted by event time; nil when all days are done.
    public mutating func nextDay() -> [SimEvent]? {
        guard origin + Int64(day) * Self.dayMs < start + Int64(days) * Self.dayMs else { return nil }
        let dayStart = origin + Int64(day) * Self.dayMs
        let dayEnd = dayStart + Self.dayMs
        var out: [SimEvent] = []
        for i in members.indices {
            var m = members[i]
            var keep: [SimEvent] = []
            for e in m.carry { if e.ts < dayEnd { out.append(e) } else { keep.append(e) } }
            m.carry = keep
            while localStart(m, m.nextLocalDay) < dayEnd && m.nextLocalDay <= days + 1 {
                var fresh: [SimEvent] = []
                generate(&m, index: Int32(i), localDay: m.nextLocalDay, into: &fresh)
                m.nextLocalDay += 1
                let end = start + Int64(days) * Self.dayMs
                for e in fresh where e.ts >= start && e.ts < end {
                    m.tokensSoFar += Int64(e.input) + Int64(e.output)
                    if e.ts < dayEnd { out.append(e) } else { m.carry.append(e) }
                }
            }
            members[i] = m
        }
        out.sort { $0.ts != $1.ts ? $0.ts < $1.ts : $0.user < $1.user }
        day += 1
        return out
    }

    /// UTC time of the member's local midnight starting local day `d` (day 0 is the first day's date).
    func localStart(_ m: Member, _ d: Int) -> Int64 {
        origin + Int64(d) * Self.dayMs - Int64(m.profile.tzHours * Double(Self.hour))
    }

    /// One local day of one member.
    func generate(_ m: inout Member, index: Int32, localDay d: Int, into out: inout [SimEvent]) {
        let base = localStart(m, d)
        let weekday = (((d + originWeekday) % 7) + 7) % 7
        let p = m.profile
        let atHour = { (h: Double) -> Int64 in base + Int64(h * Double(Self.hour)) }
        switch m.persona {
        case .service:
            // Round the clock on a fixed interval, from a small set of prompts.
            var t = m.cursor >= 0 ? m.cursor : Double(base) + m.rng.unit() * p.interval
            defer { m.cursor = t }
            while t < Double(base + Self.dayMs) {
                var e = SimEvent(ts: Int64(t), user: index)
                e.input = Int32(p.meanIn * (0.9 + 0.2 * m.rng.unit()))
                e.output = Int32(100 + m.rng.unit() * 400)
                e.prompt = p.pool[Int(m.rng.next() % UInt64(p.pool.count))]
                e.kind = 1
                e.tool = 3
                e.source = p.sourceCI ? 3 : (m.rng.unit() < 0.5 ? 1 : 2)
                out.append(e)
                t += p.interval * (1 + 0.002 * (m.rng.unit() - 0.5))
            }
            return
        case .padder:
            // A handful of tiny requests somewhere in the working week.
            if d == 0 {
                let weekdays = (0..<days).filter { ($0 + originWeekday) % 7 < 5 }
                for _ in 0..<p.count where !weekdays.isEmpty {
                    let day = weekdays[Int(m.rng.next() % UInt64(min(weekdays.count, 5)))]
                    var e = SimEvent(ts: localStart(m, day) + Int64((p.dayStart + m.rng.unit() * p.dayLength) * Double(Self.hour)), user: index)
                    e.input = Int32(20 + m.rng.next() % 380)
                    e.output = Int32(20 + m.rng.next() % 180)
                    e.prompt = m.rng.next() | 1
                    e.accepted = m.rng.unit() < 0.3
                    e.tool = UInt8(m.rng.next() % 3)
                    out.append(e)
                }
            }
            return
        default:
            break
        }

        // Working hours of a person.
        var works = weekday < 5 ? m.rng.unit() >= p.dayOffProb : m.rng.unit() < p.weekendProb
        var length = weekday < 5 ? p.dayLength : 1 + m.rng.unit() * 2
        var rate = p.ratePerHour
        var sessions = weekday < 5 ? p.sessions : 1
        if m.persona == .crunch && d == p.specialDay {
            works = true
            length = p.blockHours
            rate *= p.intensity
            sessions = 6 + Int(m.rng.next() % 3)
        }
        if m.persona == .spiker && d == p.specialDay { works = true }
        if m.persona == .replayer { rate *= p.intensity }
        let dayStart = p.dayStart + (m.rng.unit() - 0.5)
        if works {
            for _ in 0..<sessions {
                let sessionLength = min(length, (crunchSession(m, d) ? 1.0 + m.rng.unit() * 1.5 : 0.33 + m.rng.unit() * 1.67))
                let from = dayStart + m.rng.unit() * max(0, length - sessionLength)
                m.sessions += 1
                var t = from + exponential(&m.rng, mean: 1 / rate)
                while t < from + sessionLength {
                    out.append(human(&m, index: index, ts: atHour(t)))
                    t += exponential(&m.rng, mean: 1 / rate)
                }
            }
        }

        switch m.persona {
        case .powerUser where works && weekday < 5:
            // Agent runs: steps a few seconds apart, big contexts, mostly accepted.
            for _ in 0..<p.count {
                m.sessions += 1
                let steps = 15 + Int(m.rng.next() % 46)
                var t = atHour(dayStart + m.rng.unit() * length)
                for _ in 0..<steps {
                    var e = SimEvent(ts: t, user: index)
                    e.input = Int32(2_000 + m.rng.unit() * 3_000)
                    e.output = Int32(200 + m.rng.unit() * 1_200)
                    e.cacheRead = Int32(m.rng.unit() * 4_000)
                    e.accepted = m.rng.unit() < p.share
                    e.commits = e.accepted && m.rng.unit() < 0.15 ? 1 : 0
                    e.linesAdded = e.accepted ? UInt16(1 + m.rng.next() % 80) : 0
                    e.prompt = m.rng.next() | 1
                    e.kind = 3
                    e.tool = 1
                    e.session = m.sessions
                    out.append(e)
                    t += Int64(3_000 + m.rng.unit() * 37_000)
                }
            }
        case .spiker where d == p.specialDay:
            // Hours of huge requests with almost nothing accepted.
            let normalHourly = p.ratePerHour * (p.meanIn + p.meanOut)
            let perHour = max(260_000, p.intensity * normalHourly)
            let perRequest = perHour / p.interval
            var t = dayStart + 1 + m.rng.unit() * max(0, p.dayLength - 2 - p.blockHours)
            let end = t + p.blockHours
            m.sessions += 1
            while t < end {
                var e = SimEvent(ts: atHour(t), user: index)
                let size = perRequest * (0.7 + 0.6 * m.rng.unit())
                e.input = Int32(size * 0.9)
                e.output = Int32(size * 0.1)
                e.accepted = m.rng.unit() < 0.03
                e.prompt = m.rng.next() | 1
                e.kind = 2
                e.tool = 2
                e.session = m.sessions
                out.append(e)
                t += exponential(&m.rng, mean: 1 / p.interval)
            }
        case .inflater where works && weekday < 5:
            // Huge contexts through the working day, nothing accepted from them.
            var left = p.intensity * (0.8 + 0.4 * m.rng.unit())
            while left > 0 {
                var e = SimEvent(ts: atHour(dayStart + m.rng.unit() * length), user: index)
                let size = min(left, 20_000 + m.rng.unit() * 70_000)
                left -= size
                e.input = Int32(size * 0.95)
                e.output = Int32(size * 0.05)
                e.prompt = m.rng.next() | 1
                e.kind = 0
                e.tool = 0
                out.append(e)
            }
        case .loopAgent where weekday < 5:
            // Agent loops for hours: irregular steps, big contexts, almost nothing accepted.
            let prompts = (0..<3).map { _ in m.rng.next() | 1 }
            for _ in 0..<p.count {
                m.sessions += 1
                var t = Double(atHour(dayStart + m.rng.unit() * max(1, p.dayLength)))
                let end = t + p.blockHours * (0.6 + 0.8 * m.rng.unit()) * Double(Self.hour)
                while t < end {
                    var e = SimEvent(ts: Int64(t), user: index)
                    e.input = Int32(3_000 + m.rng.unit() * 9_000)
                    e.output = Int32(200 + m.rng.unit() * 600)
                    e.cacheRead = Int32(m.rng.unit() * 6_000)
                    e.accepted = m.rng.unit() < 0.005
                    e.prompt = p.flag ? prompts[Int(m.rng.next() % 3)] : m.rng.next() | 1
                    e.kind = 3
                    e.tool = 1
                    e.session = m.sessions
                    out.append(e)
                    t += 5_000 + m.rng.unit() * 55_000
                }
            }
        case .metronome:
            // A script on a beat: during working hours, or round the clock for a few days.
            var from: Double, to: Double
            if p.flag {
                guard d >= p.specialDay && d < p.specialDay + p.count else { break }
                from = m.cursor >= 0 ? m.cursor : Double(base) + m.rng.unit() * Double(Self.dayMs)
                to = Double(base + Self.dayMs)
            } else {
                guard weekday < 5 else { break }
                from = Double(atHour(dayStart))
                to = from + p.blockHours * Double(Self.hour)
            }
            var t = from
            var k = 0
            while t < to {
                if m.rng.unit() >= 0.005 {  // now and then a beat is missed
                    var e = SimEvent(ts: Int64(t), user: index)
                    e.input = Int32(p.meanIn * 0.5 + 300)
                    e.output = Int32(p.meanOut * 0.5 + 50)
                    e.prompt = p.pool.isEmpty ? m.rng.next() | 1 : p.pool[k % p.pool.count]
                    e.kind = 4
                    e.tool = 2
                    e.source = 2
                    out.append(e)
                }
                k += 1
                t += p.interval * (1 + p.jitter * (2 * m.rng.unit() - 1))
            }
            if p.flag { m.cursor = t }
        case .sprinter:
            // The hours before the cutoff: enough tokens to make `share` of the week.
            guard let cutoff else { break }
            let sprintStart = cutoff - Int64(p.jitter * Double(Self.hour))
            guard sprintStart >= base && sprintStart < base + Self.dayMs else { break }
            let sprintEnd = min(cutoff - Self.hour / 2, sprintStart + Int64(p.blockHours * Double(Self.hour)))
            let hours = Double(sprintEnd - sprintStart) / Double(Self.hour)
            let before = Double(m.tokensSoFar + out.reduce(0) { $0 + Int64($1.input) + Int64($1.output) })
            let total = max(400_000, p.share / (1 - p.share) * before)
            let perRequest = total / max(1, p.interval * hours)
            var t = Double(sprintStart)
            m.sessions += 1
            while t < Double(sprintEnd) {
                var e = SimEvent(ts: Int64(t), user: index)
                let size = perRequest * (0.7 + 0.6 * m.rng.unit())
                e.input = Int32(size * 0.85)
                e.output = Int32(size * 0.15)
                e.accepted = m.rng.unit() < 0.02
                e.prompt = m.rng.next() | 1
                e.kind = 2
                e.tool = 1
                e.session = m.sessions
                out.append(e)
                t += exponential(&m.rng, mean: Double(Self.hour) / p.interval)
            }
        default:
            break
        }
    }

    private func crunchSession(_ m: Member, _ d: Int) -> Bool { m.persona == .crunch && d == m.profile.specialDay }

    /// One interactive request of a person.
    func human(_ m: inout Member, index: Int32, ts: Int64) -> SimEvent {
        let p = m.profile
        var e = SimEvent(ts: ts, user: index)
        e.input = Int32(min(200_000, p.meanIn * logNormal(&m.rng)))
        e.output = Int32(min(50_000, p.meanOut * logNormal(&m.rng)))
        e.cacheRead = Int32(m.rng.unit() * 800)
        let replay = m.persona == .replayer && m.rng.unit() < p.share
        if replay {
            e.prompt = p.pool[Int(m.rng.next() % UInt64(p.pool.count))]
            e.accepted = m.rng.unit() < p.acceptRate * 0.2
        } else {
            e.prompt = m.lastPrompt != 0 && m.rng.unit() < p.retryRate ? m.lastPrompt : m.rng.next() | 1
            e.accepted = m.rng.unit() < p.acceptRate
        }
        m.lastPrompt = e.prompt
        if e.accepted {
            e.linesAdded = UInt16(1 + m.rng.next() % 60)
            e.linesRemoved = UInt16(m.rng.next() % 15)
            e.commits = m.rng.unit() < p.commitRate ? 1 : 0
            e.prs = m.rng.unit() < 0.01 ? 1 : 0
        }
        e.kind = UInt8(m.rng.next() % 2)
        e.tool = UInt8(m.rng.next() % 3)
        e.session = m.sessions
        return e
    }

    // MARK: - Encoding

    static let kinds = ["chat", "completion", "agent_run", "agent_step", "completion"]
    static let tools = ["ide-chat", "cli-agent", "meshclaw", "scheduler"]
    static let sources = ["interactive", "scheduled", "api", "ci"]
    static let models = ["model-s", "model-m", "model-l"]

    /// The contract's JSON for `e`, keyed by user id, with the next `event_id` of this population.
    public mutating func encode(_ e: SimEvent) -> (key: String, value: [UInt8]) {
        sequence += 1
        let m = members[Int(e.user)]
        var w = JSONWriter(capacity: 360)
        w.beginObject()
        w.key("event_id"); w.string("sim-\(seed)-\(sequence)")
        w.key("ts"); w.int(e.ts)
        w.key("user_id"); w.string(m.id)
        w.key("team"); w.string(m.team)
        w.key("tool"); w.string(Self.tools[Int(e.tool) % Self.tools.count])
        w.key("model"); w.string(Self.models[Int(e.prompt % 3)])
        w.key("kind"); w.string(Self.kinds[Int(e.kind) % Self.kinds.count])
        w.key("source"); w.string(Self.sources[Int(e.source) % Self.sources.count])
        w.key("session_id"); w.string("s-\(m.id)-\(e.session)")
        if e.prompt != 0 { w.key("prompt_hash"); w.string(Self.hex(e.prompt)) }
        w.key("input_tokens"); w.int(Int64(e.input))
        w.key("output_tokens"); w.int(Int64(e.output))
        w.key("cache_read_tokens"); w.int(Int64(e.cacheRead))
        w.key("outcome")
        w.beginObject()
        w.key("accepted"); w.bool(e.accepted)
        w.key("lines_added"); w.int(Int64(e.linesAdded))
        w.key("lines_removed"); w.int(Int64(e.linesRemoved))
        w.key("commits"); w.int(Int64(e.commits))
        w.key("prs"); w.int(Int64(e.prs))
        w.endObject()
        w.endObject()
        return (m.id, w.bytes)
    }

    static func hex(_ v: UInt64) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8](repeating: 0, count: 16)
        for i in 0..<16 { out[i] = digits[Int((v >> UInt64(60 - 4 * i)) & 15)] }
        return String(decoding: out, as: UTF8.self)
    }

    /// Ground truth: user id → persona and team, with what each persona is.
    public func labelsJSON() -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.key("seed"); w.int(Int64(bitPattern: seed))
        w.key("scenario"); w.string(scenario)
        w.key("start"); w.int(start)
        w.key("days"); w.int(days)
        w.key("personas")
        w.beginObject()
        for p in Persona.allCases {
            w.rawKey(p.rawValue)
            w.beginObject()
            w.key("gaming"); w.bool(p.isGaming)
            if let rule = p.targetRule { w.key("rule"); w.string(rule) }
            w.endObject()
        }
        w.endObject()
        w.key("users")
        w.beginObject()
        for m in members {
            w.rawKey(m.id)
            w.beginObject()
            w.key("persona"); w.string(m.persona.rawValue)
            w.key("team"); w.string(m.team)
            w.endObject()
        }
        w.endObject()
        w.endObject()
        return w.bytes
    }
}

/// Why a population could not be built.
public enum SyntheticPopulationError: Error, CustomStringConvertible {
    case unknownScenario(String, [String])
    public var description: String {
        switch self {
        case .unknownScenario(let name, let known): "unknown scenario '\(name)' (available: \(known.joined(separator: ", ")))"
        }
    }
}

/// Exponentially distributed with the given mean.
func exponential(_ rng: inout SplitMix, mean: Double) -> Double {
    -mean * log1p(-min(rng.unit(), 0.999_999_999))
}

/// A log-normal factor with median 1 (sigma 0.5).
func logNormal(_ rng: inout SplitMix) -> Double {
    let u1 = max(rng.unit(), 1e-12), u2 = rng.unit()
    let z = (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    return exp(0.5 * z)
}
