import Foundation
import Testing

@Suite("tokenwatch demo")
struct DemoTests {
    /// Piped (not a terminal): plain frames of at most 80 columns, no escape codes (so no clearing, no
    /// colour), an alert within the first 30 s, and no state directory left behind.
    @Test("shows alerts within 30 s, fits 80 columns, clears nothing when piped, leaves no files")
    func pipedDemo() async throws {
        try await Harness.run("demo") { h in
            let demo = try await h.runTool("demo", h.tokenwatch, ["demo", "--duration", "30"], timeout: .seconds(90))
            h.expect(demo.exitStatus == 0, "demo exited \(demo.exitStatus ?? -1): \(demo.stderr.suffix(2000))")
            let out = demo.stdout
            h.expect(!out.contains("\u{1B}"), "escape codes in piped output")
            let long = out.split(separator: "\n").filter { $0.count > 80 }
            h.expect(long.isEmpty, "lines wider than 80 columns: \(long.prefix(3))")
            let frames = out.components(separatedBy: "\ntokenwatch demo · ").dropFirst()
            h.expect(frames.contains { $0.contains(" FIRING ") && $0.contains("1h board, ranked by tokens") },
                     "no frame shows a board and a firing alert:\n\(out.suffix(3000))")
            h.expect(frames.allSatisfy { $0.split(separator: "\n").count <= 23 }, "a frame is taller than 24 lines")
            h.expect(out.contains("demo finished:"), "no closing line")
            let left = FileManager.default.fileExists(atPath: FileManager.default.temporaryDirectory
                .appendingPathComponent("tokenwatch-demo-\(demo.pid)").path)
            h.expect(!left, "the demo left its state directory behind")
        }
    }
}
