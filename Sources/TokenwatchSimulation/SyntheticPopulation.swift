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
    /// The tool reports no outcome (the event has no `outcome` object).
    var noOutcome = false
    /// Part of the user's gaming (ground truth for time to detect; never encoded).
    var gaming = false
}

/// A deterministic synthetic population driven by event time: teams in time zones, people with
/// working hours, and one persona per user (`Persona`). Each user's parameters (rates, request sizes,
/// acceptance, hours, and how hard a gaming persona games) are drawn per user from the seed, so the
/// rules cannot be tuned to one fixed shape. Events come out one UTC day at a time, in event-time order.
public struct SyntheticPopulation: Sendable {
    /// Scenarios: `mixed` (a realistic population) or one persona for everyone.
    public static var scenarios: [String] { ["mixed", "extended"] + Persona.allCases.map(\.rawValue) }

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
        /// Event time of the member's first gaming event in the simulated span (`Int64.max`: none).
        public var gamingFrom = Int64.max
        /// Input size of the last request and re-asks still to come (paraphraser).
        var lastInput: Int32 = 0
        var reask = 0
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
                let share = scenario == "extended" ? p.extendedShare : p.mixedShare
                personas += Array(repeating: p, count: Int((Double(count) * share).rounded()))
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
        var gamerTeam = -1  // the team team gamers fill (a whole small team games together)
        var humans = 0
        var serviceIndex = 0
        for (i, persona) in personas.enumerated() {
            var p = Profile()
            let team: String
            if persona == .service {
                team = ["platform", "infra", "devex", "sre"][Int(rng.next() % 4)]
            } else if persona == .teamGamer {
                if gamerTeam < 0 || teams[gamerTeam].left == 0 {
                    let n = teams.count
                    let name = names[n % names.count] + (n >= names.count ? "-\(n / names.count + 1)" : "")
                    teams.append((name, zones[Int(rng.next() % UInt64(zones.count))], 5 + Int(rng.next() % 3)))
                    gamerTeam = teams.count - 1
                }
                teams[gamerTeam].left -= 1
                team = teams[gamerTeam].name
                p.tzHours = teams[gamerTeam].tz
            } else {
                if teams.isEmpty || teams[teams.count - 1].left == 0 || teams.count - 1 == gamerTeam {
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
        default:
            break
        }
        if m.persona.isExtended { drawExtended(&p, persona: m.persona, rng: &r, weekdays: weekdays, days: days) }
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

    /// The parameters of the extended personas (their own draws, after the common ones).
    static func drawExtended(_ p: inout Profile, persona: Persona, rng r: inout SplitMix, weekdays: [Int], days: Int) {
        switch persona {
        case .randomScript:
            p.interval = 40_000 + r.unit() * 200_000  // mean gap (ms), exponential
            p.blockHours = 6 + r.unit() * 4
            p.intensity = 0.5 + r.unit() * 2  // request size, times the person's own
        case .paraphraser:
            p.share = 0.35 + r.unit() * 0.35  // chance a question is re-asked
            p.count = 2 + Int(r.next() % 5)  // re-asks per question, at most
            p.intensity = 1.3 + r.unit() * 1.2
        case .partialInflater:
            p.count = 1 + Int(r.next() % 2)  // needless agent sessions a workday
            p.blockHours = 0.75 + r.unit() * 1.5
        case .teamGamer:
            p.intensity = 800_000 + r.unit() * 2_700_000  // padding tokens a workday
        case .fakeAccepter:
            p.count = 1 + Int(r.next() % 3)  // loops a workday
            p.blockHours = 1 + r.unit() * 2.5
            p.share = 0.6 + r.unit() * 0.35  // steps marked accepted
        case .slowSprinter:
            p.ratePerHour *= 0.4 + r.unit() * 0.6
            p.share = 0.55 + r.unit() * 0.3
            p.interval = 10 + r.unit() * 30
            p.jitter = 20 + r.unit() * 18  // hours before the cutoff the sprint starts
            p.blockHours = p.jitter
        case .hugger:
            p.count = 4 + Int(r.next() % 9)  // requests in the week
        case .incidentNight:
            let nights = weekdays + [days - 1]
            p.flag = r.unit() < 0.35  // the night just before the cutoff
            p.specialDay = nights.isEmpty ? 0 : nights[Int(r.next() % UInt64(nights.count))]
            p.blockHours = 2.5 + r.unit() * 2
            p.intensity = 2.5 + r.unit() * 3  // rate, times the person's own
        case .newHire:
            p.intensity = 1.2 + r.unit() * 1.3  // rate at the end of the week, times a regular's
            p.specialDay = Int(r.next() % 2)  // start day
        case .reader:
            p.ratePerHour *= 1.6 + r.unit() * 0.8
            p.acceptRate *= 0.05 + r.unit() * 0.15
            p.flag = r.unit() < 0.6  // their tool reports no outcome
        default:
            break
        }
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
                    if e.gaming { m.gamingFrom = min(m.gamingFrom, e.ts) }
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
        var today = LocalDay(index: index, day: d, base: localStart(m, d), weekday: (((d + originWeekday) % 7) + 7) % 7)
        switch m.persona {
        case .service: return serviceDay(&m, today, into: &out)
        case .padder, .hugger: return tinyRequests(&m, today, into: &out)
        default: break
        }
        workingHours(&m, &today, into: &out)
        switch m.persona {
        case .powerUser where today.works && today.weekday < 5: agentRuns(&m, today, into: &out)
        case .spiker where today.day == m.profile.specialDay: spike(&m, today, into: &out)
        case .inflater where today.works && today.weekday < 5: inflatedContexts(&m, today, into: &out)
        case .loopAgent where today.weekday < 5: agentLoops(&m, today, into: &out)
        case .metronome: beats(&m, today, into: &out)
        case .randomScript where today.works && today.weekday < 5:
            scriptDay(&m, index: index, from: Double(today.at(today.dayStart)), into: &out)
        case .partialInflater where today.works && today.weekday < 5:
            for _ in 0..<m.profile.count {
                agentLoop(&m, index: index, from: Double(today.at(today.dayStart + m.rng.unit() * m.profile.dayLength)),
                          hours: m.profile.blockHours * (0.7 + 0.6 * m.rng.unit()), accept: 0.01, oneLine: false, into: &out)
            }
        case .fakeAccepter where today.weekday < 5:
            for _ in 0..<m.profile.count {
                agentLoop(&m, index: index, from: Double(today.at(today.dayStart + m.rng.unit() * m.profile.dayLength)),
                          hours: m.profile.blockHours * (0.7 + 0.6 * m.rng.unit()), accept: m.profile.share, oneLine: true, into: &out)
            }
        case .teamGamer where today.works && today.weekday < 5: teamPadding(&m, today, into: &out)
        case .incidentNight: incident(&m, index: index, localDay: d, into: &out)
        case .sprinter, .slowSprinter: sprint(&m, today, into: &out)
        default: break
        }
    }

    /// A person's working hours of the day (settled on `today`), and their ordinary requests in sessions.
    func workingHours(_ m: inout Member, _ today: inout LocalDay, into out: inout [SimEvent]) {
        let p = m.profile
        today.works = today.weekday < 5 ? m.rng.unit() >= p.dayOffProb : m.rng.unit() < p.weekendProb
        today.length = today.weekday < 5 ? p.dayLength : 1 + m.rng.unit() * 2
        var rate = p.ratePerHour
        var sessions = today.weekday < 5 ? p.sessions : 1
        if m.persona == .crunch && today.day == p.specialDay {
            today.works = true
            today.length = p.blockHours
            rate *= p.intensity
            sessions = 6 + Int(m.rng.next() % 3)
        }
        if m.persona == .spiker && today.day == p.specialDay { today.works = true }
        if m.persona == .replayer || m.persona == .paraphraser { rate *= p.intensity }
        if m.persona == .newHire {
            // Nothing before the start day, then from almost nothing to heavy within the week.
            today.works = today.works && today.day >= p.specialDay
            rate *= p.intensity * min(1, max(0.04, Double(today.day - p.specialDay) / 4))
        }
        today.dayStart = p.dayStart + (m.rng.unit() - 0.5)
        if today.works {
            for _ in 0..<sessions {
                let sessionLength = min(today.length, (crunchSession(m, today.day) ? 1.0 + m.rng.unit() * 1.5 : 0.33 + m.rng.unit() * 1.67))
                let from = today.dayStart + m.rng.unit() * max(0, today.length - sessionLength)
                m.sessions += 1
                var t = from + exponential(&m.rng, mean: 1 / rate)
                while t < from + sessionLength {
                    out.append(human(&m, index: today.index, ts: today.at(t)))
                    t += exponential(&m.rng, mean: 1 / rate)
                }
            }
        }
    }

    /// A service account: round the clock on a fixed interval, from a small set of prompts.
    func serviceDay(_ m: inout Member, _ today: LocalDay, into out: inout [SimEvent]) {
        let p = m.profile
        // Round the clock on a fixed interval, from a small set of prompts.
        var t = m.cursor >= 0 ? m.cursor : Double(today.base) + m.rng.unit() * p.interval
        defer { m.cursor = t }
        while t < Double(today.base + Self.dayMs) {
            var e = SimEvent(ts: Int64(t), user: today.index)
            e.input = Int32(p.meanIn * (0.9 + 0.2 * m.rng.unit()))
            e.output = Int32(100 + m.rng.unit() * 400)
            e.prompt = p.pool[Int(m.rng.next() % UInt64(p.pool.count))]
            e.kind = 1
            e.tool = 3
            e.source = p.sourceCI ? 3 : (m.rng.unit() < 0.5 ? 1 : 2)
            out.append(e)
            t += p.interval * (1 + 0.002 * (m.rng.unit() - 0.5))
        }
    }

    /// A padder or hugger: a handful of tiny requests somewhere in the working week (all planned on day 0).
    func tinyRequests(_ m: inout Member, _ today: LocalDay, into out: inout [SimEvent]) {
        let p = m.profile
        // A handful of tiny requests somewhere in the working week.
        if today.day == 0 {
            let weekdays = (0..<days).filter { ($0 + originWeekday) % 7 < 5 }
            for _ in 0..<p.count where !weekdays.isEmpty {
                let day = weekdays[Int(m.rng.next() % UInt64(min(weekdays.count, 5)))]
                var e = SimEvent(ts: localStart(m, day) + Int64((p.dayStart + m.rng.unit() * p.dayLength) * Double(Self.hour)), user: today.index)
                e.input = Int32(m.persona == .hugger ? 250 + m.rng.next() % 650 : 20 + m.rng.next() % 380)
                e.output = Int32(m.persona == .hugger ? 60 + m.rng.next() % 240 : 20 + m.rng.next() % 180)
                e.gaming = true
                e.prompt = m.rng.next() | 1
                e.accepted = m.rng.unit() < 0.3
                e.tool = UInt8(m.rng.next() % 3)
                out.append(e)
            }
        }
    }

    /// Agent runs: steps a few seconds apart, big contexts, mostly accepted.
    func agentRuns(_ m: inout Member, _ today: LocalDay, into out: inout [SimEvent]) {
        let p = m.profile
        for _ in 0..<p.count {
            m.sessions += 1
            let steps = 15 + Int(m.rng.next() % 46)
            var t = today.at(today.dayStart + m.rng.unit() * today.length)
            for _ in 0..<steps {
                var e = SimEvent(ts: t, user: today.index)
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
    }

    /// Hours of huge requests with almost nothing accepted.
    func spike(_ m: inout Member, _ today: LocalDay, into out: inout [SimEvent]) {
        let p = m.profile
        let normalHourly = p.ratePerHour * (p.meanIn + p.meanOut)
        let perHour = max(260_000, p.intensity * normalHourly)
        let perRequest = perHour / p.interval
        var t = today.dayStart + 1 + m.rng.unit() * max(0, p.dayLength - 2 - p.blockHours)
        let end = t + p.blockHours
        m.sessions += 1
        while t < end {
            out.append(burstRequest(&m, ts: today.at(t), user: today.index, perRequest: perRequest,
                                    inputShare: 0.9, outputShare: 0.1, acceptRate: 0.03, tool: 2))
            t += exponential(&m.rng, mean: 1 / p.interval)
        }
    }

    /// One agent request of a gaming burst (a spike or a sprint): about `perRequest` tokens, mostly
    /// input, rarely accepted, a fresh prompt each time.
    func burstRequest(_ m: inout Member, ts: Int64, user: Int32, perRequest: Double, inputShare: Double,
                      outputShare: Double, acceptRate: Double, tool: UInt8) -> SimEvent {
        var e = SimEvent(ts: ts, user: user)
        let size = perRequest * (0.7 + 0.6 * m.rng.unit())
        e.input = Int32(size * inputShare)
        e.output = Int32(size * outputShare)
        e.accepted = m.rng.unit() < acceptRate
        e.prompt = m.rng.next() | 1
        e.kind = 2
        e.tool = tool
        e.session = m.sessions
        e.gaming = true
        return e
    }

    /// Huge contexts through the working day, nothing accepted from them.
    func inflatedContexts(_ m: inout Member, _ today: LocalDay, into out: inout [SimEvent]) {
        let p = m.profile
        var left = p.intensity * (0.8 + 0.4 * m.rng.unit())
        while left > 0 {
            var e = SimEvent(ts: today.at(today.dayStart + m.rng.unit() * today.length), user: today.index)
            let size = min(left, 20_000 + m.rng.unit() * 70_000)
            left -= size
            e.input = Int32(size * 0.95)
            e.output = Int32(size * 0.05)
            e.prompt = m.rng.next() | 1
            e.kind = 0
            e.tool = 0
            e.gaming = true
            out.append(e)
        }
    }

    /// Agent loops for hours: irregular steps, big contexts, almost nothing accepted.
    func agentLoops(_ m: inout Member, _ today: LocalDay, into out: inout [SimEvent]) {
        let p = m.profile
        let prompts = (0..<3).map { _ in m.rng.next() | 1 }
        for _ in 0..<p.count {
            m.sessions += 1
            var t = Double(today.at(today.dayStart + m.rng.unit() * max(1, p.dayLength)))
            let end = t + p.blockHours * (0.6 + 0.8 * m.rng.unit()) * Double(Self.hour)
            while t < end {
                var e = SimEvent(ts: Int64(t), user: today.index)
                e.input = Int32(3_000 + m.rng.unit() * 9_000)
                e.output = Int32(200 + m.rng.unit() * 600)
                e.cacheRead = Int32(m.rng.unit() * 6_000)
                e.accepted = m.rng.unit() < 0.005
                e.prompt = p.flag ? prompts[Int(m.rng.next() % 3)] : m.rng.next() | 1
                e.kind = 3
                e.tool = 1
                e.session = m.sessions
                e.gaming = true
                out.append(e)
                t += 5_000 + m.rng.unit() * 55_000
            }
        }
    }

    /// A script on a beat: during working hours, or round the clock for a few days.
    func beats(_ m: inout Member, _ today: LocalDay, into out: inout [SimEvent]) {
        let p = m.profile
        var from: Double, to: Double
        if p.flag {
            guard today.day >= p.specialDay && today.day < p.specialDay + p.count else { return }
            from = m.cursor >= 0 ? m.cursor : Double(today.base) + m.rng.unit() * Double(Self.dayMs)
            to = Double(today.base + Self.dayMs)
        } else {
            guard today.weekday < 5 else { return }
            from = Double(today.at(today.dayStart))
            to = from + p.blockHours * Double(Self.hour)
        }
        var t = from
        var k = 0
        while t < to {
            if m.rng.unit() >= 0.005 {  // now and then a beat is missed
                var e = SimEvent(ts: Int64(t), user: today.index)
                e.input = Int32(p.meanIn * 0.5 + 300)
                e.output = Int32(p.meanOut * 0.5 + 50)
                e.prompt = p.pool.isEmpty ? m.rng.next() | 1 : p.pool[k % p.pool.count]
                e.kind = 4
                e.tool = 2
                e.source = 2
                e.gaming = true
                out.append(e)
            }
            k += 1
            t += p.interval * (1 + p.jitter * (2 * m.rng.unit() - 1))
        }
        if p.flag { m.cursor = t }
    }

    /// Padding through the working day, mid-sized contexts, fresh prompts, nothing accepted.
    func teamPadding(_ m: inout Member, _ today: LocalDay, into out: inout [SimEvent]) {
        let p = m.profile
        var left = p.intensity * (0.7 + 0.6 * m.rng.unit())
        while left > 0 {
            var e = SimEvent(ts: today.at(today.dayStart + m.rng.unit() * today.length), user: today.index)
            let size = min(left, 8_000 + m.rng.unit() * 40_000)
            left -= size
            e.input = Int32(size * 0.92)
            e.output = Int32(size * 0.08)
            e.prompt = m.rng.next() | 1
            e.accepted = m.rng.unit() < 0.02
            e.tool = UInt8(m.rng.next() % 3)
            e.gaming = true
            out.append(e)
        }
    }

    /// The hours before the cutoff: enough tokens to make `share` of the week.
    func sprint(_ m: inout Member, _ today: LocalDay, into out: inout [SimEvent]) {
        let p = m.profile
        guard let cutoff else { return }
        let sprintStart = cutoff - Int64(p.jitter * Double(Self.hour))
        guard sprintStart >= today.base && sprintStart < today.base + Self.dayMs else { return }
        let sprintEnd = min(cutoff - Self.hour / 2, sprintStart + Int64(p.blockHours * Double(Self.hour)))
        let hours = Double(sprintEnd - sprintStart) / Double(Self.hour)
        let before = Double(m.tokensSoFar + out.reduce(0) { $0 + Int64($1.input) + Int64($1.output) })
        let total = max(400_000, p.share / (1 - p.share) * before)
        let perRequest = total / max(1, p.interval * hours)
        var t = Double(sprintStart)
        m.sessions += 1
        while t < Double(sprintEnd) {
            out.append(burstRequest(&m, ts: Int64(t), user: today.index, perRequest: perRequest,
                                    inputShare: 0.85, outputShare: 0.15, acceptRate: 0.02, tool: 1))
            t += exponential(&m.rng, mean: Double(Self.hour) / p.interval)
        }
    }

    /// One member's local day: when it starts, and (set by `workingHours`) whether and when they work.
    struct LocalDay {
        let index: Int32
        let day: Int
        /// UTC time of the local midnight.
        let base: Int64
        let weekday: Int
        var works = false
        /// Working hours, and the hour they start.
        var length = 0.0
        var dayStart = 0.0

        /// UTC time of local hour `h`.
        func at(_ h: Double) -> Int64 { base + Int64(h * Double(SyntheticPopulation.hour)) }
    }

    private func crunchSession(_ m: Member, _ d: Int) -> Bool { m.persona == .crunch && d == m.profile.specialDay }

    /// A script in working hours: memoryless gaps, sizes varied around the person's own, fresh prompts.
    func scriptDay(_ m: inout Member, index: Int32, from: Double, into out: inout [SimEvent]) {
        let p = m.profile
        let end = from + p.blockHours * (0.85 + 0.3 * m.rng.unit()) * Double(Self.hour)
        var t = from + exponential(&m.rng, mean: p.interval)
        while t < end {
            var e = SimEvent(ts: Int64(t), user: index)
            e.input = Int32(min(200_000, p.meanIn * p.intensity * logNormal(&m.rng)))
            e.output = Int32(min(50_000, p.meanOut * logNormal(&m.rng)))
            e.prompt = m.rng.next() | 1
            e.accepted = m.rng.unit() < 0.02
            e.kind = UInt8(m.rng.next() % 2)
            e.tool = UInt8(m.rng.next() % 3)
            e.gaming = true
            out.append(e)
            t += exponential(&m.rng, mean: p.interval)
        }
    }

    /// A needless agent loop: steps 5–45 s apart, big contexts; `oneLine` marks accepted steps with one line.
    func agentLoop(_ m: inout Member, index: Int32, from: Double, hours: Double, accept: Double, oneLine: Bool,
                   into out: inout [SimEvent]) {
        m.sessions += 1
        var t = from
        let end = from + hours * Double(Self.hour)
        while t < end {
            var e = SimEvent(ts: Int64(t), user: index)
            e.input = Int32(3_000 + m.rng.unit() * 8_000)
            e.output = Int32(150 + m.rng.unit() * 600)
            e.cacheRead = Int32(m.rng.unit() * 6_000)
            e.accepted = m.rng.unit() < accept
            if e.accepted { e.linesAdded = oneLine ? 1 : UInt16(1 + m.rng.next() % 40) }
            e.prompt = m.rng.next() | 1
            e.kind = 3
            e.tool = 1
            e.session = m.sessions
            e.gaming = true
            out.append(e)
            t += 5_000 + m.rng.unit() * 40_000
        }
    }

    /// An incident night: hours of heavy, accepted work from about 1 am local, or ending just before the cutoff.
    func incident(_ m: inout Member, index: Int32, localDay d: Int, into out: inout [SimEvent]) {
        let p = m.profile
        var from: Double
        if p.flag, let cutoff {
            from = Double(cutoff) - (p.blockHours + m.rng.unit()) * Double(Self.hour)
            guard Int64(from) >= localStart(m, d) && Int64(from) < localStart(m, d + 1) else { return }
        } else {
            guard d == p.specialDay + 1 else { return }  // the night after the drawn day
            from = Double(localStart(m, d)) + (1 + m.rng.unit() * 0.5) * Double(Self.hour)
        }
        let end = from + p.blockHours * Double(Self.hour)
        let rate = p.ratePerHour * p.intensity
        m.sessions += 1
        var t = from
        while t < end {
            var e = human(&m, index: index, ts: Int64(t))
            e.input = Int32(min(200_000, Double(e.input) * 2))
            if !e.accepted && m.rng.unit() < 0.3 {
                e.accepted = true
                e.linesAdded = UInt16(1 + m.rng.next() % 60)
                e.commits = m.rng.unit() < 0.2 ? 1 : 0
            }
            out.append(e)
            t += exponential(&m.rng, mean: Double(Self.hour) / rate)
        }
    }

    /// One interactive request of a person.
    func human(_ m: inout Member, index: Int32, ts: Int64) -> SimEvent {
        let p = m.profile
        var e = SimEvent(ts: ts, user: index)
        e.input = Int32(min(200_000, p.meanIn * logNormal(&m.rng)))
        e.output = Int32(min(50_000, p.meanOut * logNormal(&m.rng)))
        e.cacheRead = Int32(m.rng.unit() * 800)
        let replay = m.persona == .replayer && m.rng.unit() < p.share
        if m.persona == .paraphraser && paraphrase(&m, &e) {
            // a re-ask: done
        } else if replay {
            e.prompt = p.pool[Int(m.rng.next() % UInt64(p.pool.count))]
            e.accepted = m.rng.unit() < p.acceptRate * 0.2
            e.gaming = true
        } else {
            e.prompt = m.lastPrompt != 0 && m.rng.unit() < p.retryRate ? m.lastPrompt : m.rng.next() | 1
            e.accepted = m.rng.unit() < p.acceptRate
        }
        m.lastPrompt = e.prompt
        if m.persona == .reader && p.flag { e.noOutcome = true }
        if e.accepted && !e.noOutcome {
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

    /// The paraphraser's request: the same question again (same context, a new prompt hash, rarely
    /// accepted), or a new question that may be re-asked. True when it is a re-ask.
    func paraphrase(_ m: inout Member, _ e: inout SimEvent) -> Bool {
        if m.reask > 0 && m.lastInput > 0 {
            m.reask -= 1
            e.input = Int32(Double(m.lastInput) * (0.995 + 0.01 * m.rng.unit()))
            e.prompt = m.rng.next() | 1
            e.accepted = m.rng.unit() < m.profile.acceptRate * 0.1
            e.gaming = true
            return true
        }
        m.lastInput = e.input
        m.reask = m.rng.unit() < m.profile.share ? 1 + Int(m.rng.next() % UInt64(m.profile.count)) : 0
        return false
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
        if e.noOutcome {
            w.endObject()
            return (m.id, w.bytes)
        }
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
            if m.gamingFrom != .max { w.key("gaming_from"); w.int(m.gamingFrom) }
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
