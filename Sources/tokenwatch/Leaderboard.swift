import ArgumentParser
import Foundation
import TokenwatchCore
import TokenwatchService

struct Leaderboard: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the latest leaderboard of each scope from the board topic.")

    @OptionGroup var kafka: KafkaClientOptions
    @Option(help: "Window name, e.g. 1h, 24h, 7d (default: all).") var window: String?
    @Option(help: "Scope: global or team:<name> (default: all).") var scope: String?
    @Option(help: "Leaderboard topic (default: kafka.leaderboard_topic).") var topic: String?
    @Option(help: "Seconds to wait for each answer of the brokers.") var timeout: Double = 15
    @Option(help: "Seconds to wait for a board of that window and scope to appear (a daemon just started is still reading).")
    var wait: Double = 0
    @Flag(help: "One JSON object per line instead of tables.") var json = false
    @Flag(help: "Refresh every --interval seconds, in place on a terminal like top (Ctrl-C to stop).") var watch = false
    @Option(help: "Seconds between refreshes with --watch.") var interval: Double = 2

    func validate() throws {
        if !(timeout > 0) { throw ValidationError("--timeout must be a positive number of seconds") }
        if !(wait >= 0) { throw ValidationError("--wait must be a number of seconds") }
        if !(interval > 0) { throw ValidationError("--interval must be a positive number of seconds") }
    }

    func run() throws {
        guard watch else { return try once() }
        let tty = isatty(STDOUT_FILENO) == 1
        while true {
            // On a terminal the screen is redrawn; in a pipe or file, refreshes follow one another.
            print(tty ? "\u{1B}[H\u{1B}[2J" : "---- \(RFC3339.format(WallClock.nowMs()))", terminator: tty ? "" : "\n")
            try? once()  // no board yet, or the brokers away: say so (once does) and keep watching
            Thread.sleep(forTimeInterval: interval)
        }
    }

    private func once() throws {
        let k = try kafka.load().kafka
        let topic = topic ?? k.leaderboardTopic
        let logger = makeLogger("tokenwatch.leaderboard")
        let deadline = ContinuousClock.now + .milliseconds(Int64(wait * 1000))
        var boards: [String: [String: Any]]
        var chosen: [String]
        var said = false
        repeat {
            do {
                boards = try BoardReader.latestBoards(brokers: k.brokers, topic: topic, librdkafka: k.librdkafka, logger: logger,
                                                      timeout: .milliseconds(Int64(timeout * 1000)))
            } catch {
                FileHandle.standardError.write(Data("tokenwatch leaderboard: cannot read \(topic) from \(k.brokers): \(error)\n".utf8))
                throw Exit.runtime
            }
            chosen = boards.keys.sorted().filter { key in
                let parts = key.split(separator: "|", maxSplits: 1).map(String.init)
                return (window == nil || parts.first == window) && (scope == nil || parts.last == scope)
            }
            if chosen.isEmpty && ContinuousClock.now < deadline {
                if !said {
                    FileHandle.standardError.write(Data("no board yet for that window and scope; waiting up to \(wait) s\n".utf8))
                    said = true
                }
                // Each read opens a new consumer; once a second is plenty for a board that is on its way.
                Thread.sleep(forTimeInterval: 1)
            }
        } while chosen.isEmpty && ContinuousClock.now < deadline
        if chosen.isEmpty {
            FileHandle.standardError.write(Data("no board yet for that window and scope\n".utf8))
            throw Exit.runtime
        }
        for key in chosen {
            if json {
                let data = try JSONSerialization.data(withJSONObject: boards[key]!, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print(BoardReader.table(boards[key]!))
                print()
            }
        }
    }
}
