/// A hopping window: counts event times in `[end - length, end)`, where `end` slides by `step`.
public struct WindowSpec: Sendable, Hashable, CustomStringConvertible {
    /// The window's name, which is its length written as a duration (`1h`, `24h`, `7d`).
    public var name: String
    /// Length of the window in milliseconds of event time.
    public var lengthMs: Int64
    /// Resolution at which the window slides, in milliseconds; divides `lengthMs`.
    public var stepMs: Int64

    public init(name: String, lengthMs: Int64, stepMs: Int64) {
        self.name = name
        self.lengthMs = lengthMs
        self.stepMs = stepMs
    }

    public var description: String { "\(name)@\(DurationText.format(ms: stepMs))" }

    /// The end of the window that a snapshot taken at `asOf` reports: `asOf` rounded down to the step.
    @inlinable public func end(asOf: Int64) -> Int64 { floorDiv(asOf, stepMs) * stepMs }
}

/// What a leaderboard ranks users by.
public enum RankBy: String, Sendable, CaseIterable {
    case tokens
    case effectiveTokens = "effective_tokens"
    case outcomes
}

/// Everything the pure engine needs to know; built from the YAML configuration by `TokenwatchConfig`.
public struct EngineConfiguration: Sendable {
    /// How far behind a partition's newest event time an event may arrive and still count (default 5m).
    public var allowedLatenessMs: Int64 = 5 * 60_000
    /// A partition quiet for this long (wall clock, live mode only) stops holding the watermark back (default 30s).
    public var idleTimeoutMs: Int64 = 30_000
    /// How long, in event time, an `event_id` is remembered for de-duplication (default 24h).
    public var dedupHorizonMs: Int64 = 24 * 3_600_000
    /// Upper bound on remembered event ids per partition; the oldest are forgotten first (default 4M).
    public var dedupMaxIdsPerPartition: Int = 4_000_000
    /// Events more than this ahead of the newest accepted event time are rejected (default 1h).
    public var maxFutureSkewMs: Int64 = 3_600_000
    /// Messages larger than this are rejected (default 1 MiB).
    public var maxMessageBytes: Int = 1_048_576
    /// Dead letters carry at most this many bytes of the rejected payload (default 64 KiB).
    ///
    /// A longer payload keeps its first `deadLetterPayloadCap` bytes in `payload_base64`, and the
    /// record adds `"truncated": true` and `payload_sha256` of the whole payload (`payload_bytes`
    /// is always its full size). Base64 of 64 KiB is 87,384 bytes; with the envelope (reason, topic
    /// name, offsets) a dead letter stays under 90 KB, far below librdkafka's default
    /// `message.max.bytes` of 1,000,000, so it can always be produced, whatever arrived (a message
    /// of any size, or `max_message_bytes` raised); and the dead-letter topic stays small.
    public var deadLetterPayloadCap: Int = 65_536
    /// The windows every board is computed for (default 1h@1m, 24h@15m, 7d@1h).
    public var windows: [WindowSpec] = EngineConfiguration.defaultWindows
    /// Snapshots are taken at event times that are multiples of this (default 1m).
    public var snapshotIntervalMs: Int64 = 60_000
    /// Entries per board (default 25).
    public var topK: Int = 25
    /// Ranking order of the boards (default `effective_tokens`).
    public var rankBy: RankBy = .effectiveTokens
    /// A user seen within this much event time counts in `known_users` (default 28d).
    public var knownUsersHorizonMs: Int64 = 28 * 86_400_000
    /// Glob patterns (`*` only) naming service accounts, kept off people's boards.
    public var serviceAccountPatterns: [String] = ["svc-*", "*-bot"]
    /// The tokenmaxxing rules' settings and the weekly cutoff (default: every rule on, `mon 00:00`).
    public var detection = DetectionConfiguration()
    /// Aliases → people for inputs that do not name the person themselves (OTLP); reloadable (default empty).
    public var identities = IdentityDirectory()
    /// The people expected to use AI tools: when set, the boards' adoption denominator; reloadable (default none).
    public var roster: Roster?
    /// What may be published of the boards (`BoardPrivacy`); off by default in the core.
    public var privacy = PrivacyConfiguration()

    public static let defaultWindows: [WindowSpec] = [
        WindowSpec(name: "1h", lengthMs: 3_600_000, stepMs: 60_000),
        WindowSpec(name: "24h", lengthMs: 86_400_000, stepMs: 900_000),
        WindowSpec(name: "7d", lengthMs: 7 * 86_400_000, stepMs: 3_600_000),
    ]

    public init() {}
}

/// Floor division for possibly negative event times.
@inlinable public func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}
