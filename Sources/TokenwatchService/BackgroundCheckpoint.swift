import Foundation
import Kafka
import Synchronization
import TokenwatchCore

/// A checkpoint encoded and written on its own thread from a copy of the engine, so the pipeline keeps
/// consuming meanwhile: `Engine` is a value of arrays, so the copy is copy-on-write and costs nothing
/// until the loop changes something (then only what it touches is copied). The offsets it holds are
/// committed by the loop once the file is durable (`finished`). The final cycle of a stop or revoke
/// writes through the same path and waits for it. With a changelog, the same bytes then go to the
/// changelog topic (for the standbys); a failure there is reported, not fatal: the file holds the state.
final class BackgroundCheckpoint: Sendable {
    /// Where each input partition resumes, as of the copy.
    let offsets: [Int32: Int64]
    let startedAtMs: Int64
    private let outcome = Mutex<Result<Int64, any Error>?>(nil)
    private let changelogOutcome = Mutex<Result<Int, KafkaError>?>(nil)
    private let done = DispatchSemaphore(value: 0)

    /// Starts writing `engine`'s checkpoint, stamped with `identity`, into `store`.
    init(engine: ShardedEngine, identity: StateIdentity, store: CheckpointStore, changelog: ChangelogWriter? = nil) {
        offsets = engine.positions
        startedAtMs = WallClock.monotonicMs()
        let progress = ChangelogRecord.Stamp.progress(of: offsets)
        let thread = Thread { [self, engine] in
            var file: [UInt8] = []
            let result = Result<Int64, any Error> {
                file = CheckpointFile.encode(identity, engineBytes: engine.checkpoint())
                try store.save(file)
                return WallClock.monotonicMs() - startedAtMs
            }
            if case .success = result, let changelog {
                let published = Result<Int, KafkaError> { () throws(KafkaError) -> Int in
                    try changelog.publish(file, progress: progress)
                    return file.count
                }
                changelogOutcome.withLock { $0 = published }
            }
            outcome.withLock { $0 = result }
            done.signal()
        }
        thread.name = "tokenwatch-checkpoint"
        thread.start()
    }

    /// Once finished: the bytes published to the changelog or why not (nil without a changelog).
    var changelogResult: Result<Int, KafkaError>? { changelogOutcome.withLock { $0 } }

    /// Nil while writing; then how long the write took, or its error.
    var finished: Result<Int64, any Error>? { outcome.withLock { $0 } }

    /// Blocks until the write is done (for the final cycle of a stop or revoke).
    func wait() -> Result<Int64, any Error> {
        done.wait()
        done.signal()  // a later `wait` returns at once too
        return finished!  // set before the signal
    }
}
