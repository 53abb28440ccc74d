import Foundation
import TokenwatchCore

/// Threads of its own for the engine shards: `run` calls a body once per shard index, index 0 on the
/// caller's thread and the others on these workers, and returns when every call has returned.
///
/// Not Dispatch's `concurrentPerform`: that waits for helper threads from the global pool, which Swift
/// concurrency shares; when its threads are all busy the pipeline would wait on them.
final class ShardWorkers: @unchecked Sendable {
    /// The body of the current run; written before the workers are woken, read by them, cleared after.
    private var body: (@Sendable (Int) -> Void)?
    private let wake: [DispatchSemaphore]
    private let finished = DispatchSemaphore(value: 0)
    private var stopping = false

    /// Workers for `shards` shards (one fewer thread: the caller runs shard 0).
    init(shards: Int) {
        wake = (1..<max(shards, 1)).map { _ in DispatchSemaphore(value: 0) }
        for (n, semaphore) in wake.enumerated() {
            // Weak: the threads end when the owner lets go of the workers (deinit wakes them).
            let thread = Thread { [weak self] in
                while true {
                    semaphore.wait()
                    guard let self, !self.stopping else { return }
                    self.body?(n + 1)
                    self.finished.signal()
                }
            }
            thread.name = "tokenwatch-shard-\(n + 1)"
            thread.start()
        }
    }

    deinit {
        stopping = true
        for semaphore in wake { semaphore.signal() }
    }

    /// A `ShardedEngine.parallel` runner over these threads (counts above the shard count run in turn).
    var runner: ParallelRunner {
        { [self] count, body in run(count: count, body) }
    }

    private func run(count: Int, _ body: @Sendable (Int) -> Void) {
        let helpers = min(count - 1, wake.count)
        withoutActuallyEscaping(body) { escaping in
            self.body = escaping
            for i in 0..<helpers { wake[i].signal() }
            body(0)
            for i in (helpers + 1)..<max(count, helpers + 1) { body(i) }
            for _ in 0..<helpers { finished.wait() }
            self.body = nil
        }
    }
}
