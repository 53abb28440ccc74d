/// A person's and the agent's active time, from the optional `human_active_ms` and `agent_active_ms`
/// (docs/events.md), as sums halved at each new UTC day (yesterday counts half, the day before a
/// quarter). Only events that report both count; a user whose events report neither has no presence
/// at all (unknown), never zero human time.
extension UserSignals {
    static let dayMs: Int64 = 86_400_000

    /// Adds one event's times (an event of an earlier day than the sums' counts as of their day).
    @inline(__always) mutating func addPresence(human: Int64, agent: Int64, ts: Int64) {
        let day = Int32(clamping: floorDiv(ts, Self.dayMs))
        if day > presenceDay {
            let shift = presenceDay == .min ? 32 : min(32, Int(day) - Int(presenceDay))
            humanMs = shift >= 32 ? 0 : humanMs >> UInt32(shift)
            agentMs = shift >= 32 ? 0 : agentMs >> UInt32(shift)
            presenceDay = day
        }
        humanMs = Self.saturatingAdd(humanMs, human)
        agentMs = Self.saturatingAdd(agentMs, agent)
    }

    @inline(__always) static func saturatingAdd(_ a: UInt32, _ b: Int64) -> UInt32 {
        UInt32(clamping: Int64(a) + max(0, b))
    }

    /// The decayed times as of the day of `ts`, or nil when no event reported them in the last month.
    func presence(asOf ts: Int64) -> (human: UInt32, agent: UInt32)? {
        guard presenceDay != .min else { return nil }
        let back = max(0, floorDiv(ts, Self.dayMs) - Int64(presenceDay))
        guard back < 32, humanMs > 0 || agentMs > 0 else { return nil }
        return (humanMs >> UInt32(back), agentMs >> UInt32(back))
    }
}
