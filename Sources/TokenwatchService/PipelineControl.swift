import Dispatch
import Logging
import Synchronization
import TokenwatchCore

/// What other threads hand to the pipeline loop: a configuration reload (SIGHUP) and read-only user
/// queries (HTTP). The loop looks at one atomic flag per iteration and does the work between batches,
/// so the per-event path takes no lock and the engine keeps a single owner.
final class PipelineControl: Sendable {
    private struct PendingReload {
        var generation: UInt64
        var configuration: EngineConfiguration
    }

    private let reload = Mutex<PendingReload?>(nil)
    private let generation = Atomic<UInt64>(0)
    private let queries = Mutex<[UserQuery]>([])
    /// Set after anything is queued; the loop exchanges it for false before taking the work.
    private let pending = Atomic<Bool>(false)

    /// Queues a reload (replacing one not yet applied) and returns its generation.
    func requestReload(_ configuration: EngineConfiguration) -> UInt64 {
        let next = reload.withLock { slot in
            let g = generation.add(1, ordering: .relaxed).newValue
            slot = PendingReload(generation: g, configuration: configuration)
            return g
        }
        pending.store(true, ordering: .releasing)
        return next
    }

    func enqueue(_ query: UserQuery) {
        queries.withLock { $0.append(query) }
        pending.store(true, ordering: .releasing)
    }

    /// Pipeline thread: applies a pending reload and answers pending queries. Returns the reload's
    /// generation and error (nil error = applied) when one was handled.
    func serve(_ engine: inout ShardedEngine, logger: Logger) -> (generation: UInt64, error: String?)? {
        guard pending.exchange(false, ordering: .acquiringAndReleasing) else { return nil }
        for query in queries.withLock({ q in defer { q.removeAll() }; return q }) {
            let explanation = engine.explain(query.userId, window: query.window, resolvingPseudonym: query.resolvingPseudonym)
            if query.forgetting, let person = explanation?.summary.userId, engine.forget(person) {
                logger.notice("forgot a user's state on request", metadata: ["user": "\(person)"])
            }
            query.answer(explanation)
        }
        guard let request = reload.withLock({ slot in defer { slot = nil }; return slot }) else { return nil }
        let before = engine.configuration
        do {
            try engine.reconfigure(request.configuration)
            logger.info("reload applied by the pipeline", metadata: [
                "generation": "\(request.generation)",
                "top_k": "\(before.topK) → \(request.configuration.topK)",
                "rank_by": "\(before.rankBy.rawValue) → \(request.configuration.rankBy.rawValue)",
            ])
            return (request.generation, nil)
        } catch {
            logger.error("reload refused by the engine; keeping the running configuration", metadata: ["reason": "\(error)"])
            return (request.generation, error.description)
        }
    }

    /// Pipeline thread, with `engine.instances: split`: answers queries from the partitions this instance
    /// holds (a user held elsewhere is unknown here); forgetting and reloads are refused: a partition's
    /// state comes back from its epochs on the changelog, and every instance must run the same settings.
    func serveSplit(_ engine: PartitionedEngine?, logger: Logger) -> (generation: UInt64, error: String?)? {
        guard pending.exchange(false, ordering: .acquiringAndReleasing) else { return nil }
        for query in queries.withLock({ q in defer { q.removeAll() }; return q }) {
            if query.forgetting {
                logger.error("forgetting a user is not supported with engine.instances: split; nothing was forgotten",
                             metadata: ["user": "\(query.userId)"])
                query.answer(nil)
                continue
            }
            query.answer(engine?.engine.explain(query.userId, window: query.window, resolvingPseudonym: query.resolvingPseudonym))
        }
        guard let request = reload.withLock({ slot in defer { slot = nil }; return slot }) else { return nil }
        let reason = "engine.instances: split: restart every instance of the group to change settings"
        logger.error("reload refused; keeping the running configuration", metadata: ["reason": "\(reason)"])
        return (request.generation, reason)
    }

    /// The `ts` field of an alert's JSON (the event time of the behaviour it reports), found without parsing.
    static func eventTime(ofAlert json: [UInt8]) -> Int64? {
        let needle = Array(#""ts":"#.utf8)
        var i = 0
        while i + needle.count <= json.count {
            if json[i] == needle[0] && Array(json[i..<(i + needle.count)]) == needle {
                var end = i + needle.count
                var value: Int64 = 0
                while end < json.count, json[end] >= UInt8(ascii: "0"), json[end] <= UInt8(ascii: "9"), value < Int64.max / 10 - 9 {
                    value = value * 10 + Int64(json[end] - UInt8(ascii: "0"))
                    end += 1
                }
                return end > i + needle.count ? value : nil
            }
            i += 1
        }
        return nil
    }

    /// The `rule` field of an alert's JSON, found without parsing (alerts are rare; this runs per alert).
    static func ruleName(ofAlert json: [UInt8]) -> String {
        let needle = Array(#""rule":""#.utf8)
        guard json.count > needle.count else { return "unknown" }
        var i = 0
        while i + needle.count <= json.count {
            if json[i] == needle[0] && Array(json[i..<(i + needle.count)]) == needle {
                let start = i + needle.count
                var end = start
                while end < json.count && json[end] != UInt8(ascii: "\"") { end += 1 }
                return end > start ? String(decoding: json[start..<end], as: UTF8.self) : "unknown"
            }
            i += 1
        }
        return "unknown"
    }
}

/// One `/users/<id>` question waiting for the pipeline thread.
final class UserQuery: Sendable {
    let userId: String
    /// The window of the explanation (nil: the first configured).
    let window: String?
    /// Whether a board pseudonym may be resolved to its person (only for callers holding the bearer token).
    let resolvingPseudonym: Bool
    /// Drop the user's state (`ShardedEngine.forget`) after explaining what was held.
    let forgetting: Bool
    private let result = Mutex<Explanation??>(nil)
    private let done = DispatchSemaphore(value: 0)

    init(userId: String, window: String? = nil, resolvingPseudonym: Bool = false, forgetting: Bool = false) {
        self.userId = userId
        self.window = window
        self.resolvingPseudonym = resolvingPseudonym
        self.forgetting = forgetting
    }

    func answer(_ summary: Explanation?) {
        result.withLock { $0 = .some(summary) }
        done.signal()
    }

    /// The answer (inner nil = unknown user), or nil when the loop did not answer in time.
    func wait(timeout: Duration) -> Explanation?? {
        let ms = Int(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        guard done.wait(timeout: .now() + .milliseconds(ms)) == .success else { return nil }
        return result.withLock { $0 }
    }
}

/// The answer to a user query.
public enum UserQueryResult: Sendable, Equatable {
    case found(UserSummary)
    case unknownUser
    /// The pipeline loop did not answer in time (starting, stopping, or busy waiting for the broker).
    case unavailable
}

extension Pipeline {
    /// Hands a new engine configuration to the loop, which adopts it between batches (see
    /// `Engine.reconfigure(_:)`); returns the generation that `status.reloadGeneration` reaches once handled.
    public func requestReload(_ configuration: EngineConfiguration) -> UInt64 {
        control.requestReload(configuration)
    }

    /// Asks the loop for one user's figures; waits at most `timeout`.
    public func userSummary(_ userId: String, timeout: Duration = .seconds(2)) -> UserQueryResult {
        let query = UserQuery(userId: userId)
        control.enqueue(query)
        switch query.wait(timeout: timeout) {
        case .none: return .unavailable
        case .some(.none): return .unknownUser
        case .some(.some(let explanation)): return .found(explanation.summary)
        }
    }

    /// Asks the loop for one user's explanation over `window` (nil: the first configured); waits at most
    /// `timeout`. Nil inside `.some` means an unknown user.
    public func explanation(_ userId: String, window: String?, resolvingPseudonym: Bool = false, forgetting: Bool = false,
                            timeout: Duration = .seconds(2)) -> Explanation?? {
        let query = UserQuery(userId: userId, window: window, resolvingPseudonym: resolvingPseudonym, forgetting: forgetting)
        control.enqueue(query)
        return query.wait(timeout: timeout)
    }
}
