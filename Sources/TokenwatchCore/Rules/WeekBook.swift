/// Per-user tallies of one leaderboard week (the event times before one weekly cutoff), for the
/// weekly rules (`leaderboard_sprint`, `mandate_minimum`). Fed where events are applied to the windows
/// (so late events count exactly as they do on the boards) and evaluated, then dropped, at the first
/// snapshot boundary at or after the cutoff. Dense arrays indexed by user: no per-event allocation.
struct WeekBook: Sendable {
    /// The cutoff that closes this week.
    var cutoff: Int64
    var tokens: [Int64] = []
    var events: [UInt32] = []
    var outcomes: [UInt32] = []
    /// Tokens and outcomes in `[cutoff - sprint window, cutoff)`.
    var lateTokens: [Int64] = []
    var lateOutcomes: [UInt32] = []
    /// Users with events in the week.
    var active: [UInt32] = []

    init(cutoff: Int64) { self.cutoff = cutoff }

    /// Bytes of its arrays (`Engine.stateFootprint`).
    var footprintBytes: Int { (tokens.capacity + lateTokens.capacity) * 8 + (events.capacity + outcomes.capacity + lateOutcomes.capacity + active.capacity) * 4 }

    @inline(__always) mutating func add(user: UInt32, tokens t: Int64, outcomes o: UInt32, late: Bool) {
        let u = Int(user)
        if events.count <= u {
            let extra = u + 1 - events.count
            tokens.append(contentsOf: repeatElement(0, count: extra))
            events.append(contentsOf: repeatElement(0, count: extra))
            outcomes.append(contentsOf: repeatElement(0, count: extra))
            lateTokens.append(contentsOf: repeatElement(0, count: extra))
            lateOutcomes.append(contentsOf: repeatElement(0, count: extra))
        }
        if events[u] == 0 { active.append(user) }
        events[u] &+= 1
        tokens[u] &+= t
        outcomes[u] &+= o
        if late {
            lateTokens[u] &+= t
            lateOutcomes[u] &+= o
        }
    }
}
