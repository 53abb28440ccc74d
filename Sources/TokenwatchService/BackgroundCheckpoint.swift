import Foundation
import Synchronization
import TokenwatchCore

/// A checkpoint encoded and written on its own thread from a copy of the engine, so the pipeline keeps
/// consuming meanwhile: `Engine` is a value of arrays, so the copy is copy-on-write and costs nothing
/// until the loop changes something (then only what it touches is copied). The offsets it holds are
/// committed by the loop once the file is durable (`finished`). The final cycle of a stop or revoke
/// writes through the same path and waits for it.
final class BackgroundCheckpoint: Sendable {
    /// Where each input partition resumes, as of the copy.
    let offsets: [Int32: Int64]
    let startedAtMs: Int64
    private let outcome = Mutex<Result<Int64, any Error>?>(nil)
    private let done = DispatchSemaphore(value: 0)

    /// Starts writing `engine`'s checkpoint, stamped with `identity`, into `store`.
    init(engine: ShardedEngine, identity: StateIdentity, store: CheckpointStore) {
        offsets = engine.positions
        startedAtMs = WallClock.monotonicMs()
        let thread = Thread { [self, engine] in
            let result = Result<Int64, any Error> {
                try store.save(engine.checkpoint(), identity: identity)
                return WallClock.monotonicMs() - startedAtMs
            }
            outcome.withLock { $0 = result }
            done.signal()
        }
        thread.name = "tokenwatch-checkpoint"
        thread.start()
    }

    /// Nil while writing; then how long the write took, or its error.
    var finished: Result<Int64, any Error>? { outcome.withLock { $0 } }

    /// Blocks until the write is done (for the final cycle of a stop or revoke).
    func wait() -> Result<Int64, any Error> {
        done.wait()
        done.signal()  // a later `wait` returns at once too
        return finished!  // set before the signal
    }
}
