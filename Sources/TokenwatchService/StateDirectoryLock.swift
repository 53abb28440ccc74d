import Foundation

/// An exclusive `flock` on `<state dir>/lock`, held for the life of the pipeline: two daemons never
/// share one state directory. The holder's pid is written into the file so the refusal can name it.
final class StateDirectoryLock {
    let path: String
    private let fd: Int32

    /// Takes the lock or throws a refusal naming the holder.
    init(directory: String) throws(PipelineRefusal) {
        path = directory + "/lock"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw PipelineRefusal("state directory \(directory) cannot be created: \(error.localizedDescription)")
        }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw PipelineRefusal("\(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = Self.readPid(fd)
            close(fd)
            throw PipelineRefusal("""
                state directory \(directory) is in use by another tokenwatch (pid \(holder.map(String.init) ?? "unknown")); \
                one daemon per state directory: stop it, or give this one its own state.dir
                """)
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        self.fd = fd
    }

    deinit { close(fd) }  // closing the descriptor releases the lock

    private static func readPid(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return nil }
        return Int32(String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

/// The pipeline will not start: its state belongs to something else, or the directory is taken.
/// `tokenwatch run` exits 2 with this message (a configuration problem, not a runtime failure).
public struct PipelineRefusal: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
