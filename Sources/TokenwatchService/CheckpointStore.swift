import Foundation

/// Reads and atomically writes the engine checkpoint in the state directory.
public struct CheckpointStore: Sendable {
    public let directory: String
    public var path: String { directory + "/engine.checkpoint" }

    public init(directory: String) { self.directory = directory }

    /// The last checkpoint, or nil when there is none.
    public func load() throws -> [UInt8]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// Writes to a temporary file, fsyncs it, then renames it over the old one, so a crash at
    /// any moment leaves either the old or the new checkpoint, never a torn one.
    public func save(_ bytes: [UInt8]) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw CheckpointStoreError(path: tmp, errno: errno) }
        var written = 0
        let ok: Bool = bytes.withUnsafeBytes { buf in
            while written < buf.count {
                let n = write(fd, buf.baseAddress! + written, buf.count - written)
                if n <= 0 { return false }
                written += n
            }
            return fsync(fd) == 0
        }
        let saved = errno
        close(fd)
        guard ok else { throw CheckpointStoreError(path: tmp, errno: saved) }
        guard rename(tmp, path) == 0 else { throw CheckpointStoreError(path: path, errno: errno) }
        let dfd = open(directory, O_RDONLY)
        if dfd >= 0 { fsync(dfd); close(dfd) }
    }
}

/// A checkpoint file could not be written or read.
public struct CheckpointStoreError: Error, CustomStringConvertible {
    public var path: String
    public var errno: Int32
    public var description: String { "\(path): \(String(cString: strerror(errno)))" }
}
