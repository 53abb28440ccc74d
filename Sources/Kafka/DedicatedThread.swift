import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs blocking work on its own OS thread, outside Swift's cooperative pool.
enum DedicatedThread {
    private final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    /// Starts a detached thread running `body`. Returns false if the thread could not be created
    /// (then `body` did not run).
    @discardableResult
    static func spawn(_ body: @escaping @Sendable () -> Void) -> Bool {
        let box = Unmanaged.passRetained(Box(body)).toOpaque()
        #if canImport(Glibc)
        var thread = pthread_t()
        #else
        var thread: pthread_t? = nil
        #endif
        let rc = pthread_create(&thread, nil, { arg in
            let box = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
            box.body()
            return nil
        }, box)
        guard rc == 0 else {
            Unmanaged<Box>.fromOpaque(box).release()
            return false
        }
        #if canImport(Glibc)
        pthread_detach(thread)
        #else
        pthread_detach(thread!)
        #endif
        return true
    }

    /// Runs `body` on a new thread and waits at most `timeout` for it. Returns true when it finished in
    /// time; otherwise the thread keeps running (and keeps what `body` captured alive) until it returns.
    /// If no thread can be created, `body` runs on the caller's thread.
    static func run(timeout: Duration, _ body: @escaping @Sendable () -> Void) -> Bool {
        let done = DispatchSemaphore(value: 0)
        let started = spawn {
            body()
            done.signal()
        }
        if !started {
            body()
            return true
        }
        let ms = Int(timeout.kafkaMilliseconds)
        return done.wait(timeout: .now() + .milliseconds(ms)) == .success
    }
}
