import ArgumentParser
import Foundation
import TokenwatchConfig
import TokenwatchCore
import TokenwatchService

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Weekly adoption against the mandate (raw and effective), top users raw vs effective, alerts by rule.",
        discussion: """
        Reads the board and alert topics (or, with --replay-dir, a replay's leaderboard.jsonl and alerts.jsonl). \
        The week's figures are those of the 7-day window's board at the week's end (Monday 00:00 UTC), or of the \
        newest board within the week while it runs. The mandate is leaderboard.adoption_target.
        """)

    @Option(help: "ISO week, YYYY-Www (e.g. 2026-W47).") var week: String
    @Option(help: "Only this team's board and alerts.") var team: String?
    @Option(help: "csv, json or md (default md).") var format = "md"
    @Option(help: "Window whose boards give the week's figures (default 7d).") var window = "7d"
    @Option(help: "A replay's --out directory instead of the topics.") var replayDir: String?
    @OptionGroup var kafka: KafkaClientOptions

    func validate() throws {
        if WeeklyReport.weekStart(week) == nil { throw ValidationError("--week '\(week)' is not an ISO week such as 2026-W47") }
        if !["csv", "json", "md"].contains(format) { throw ValidationError("--format must be csv, json or md") }
    }

    func run() throws {
        let configuration = try kafka.load()
        let k = configuration.kafka
        let boards: [[String: Any]], alerts: [[String: Any]]
        do {
            if let dir = replayDir {
                boards = try TopicScan.objects(file: dir + "/leaderboard.jsonl")
                alerts = (try? TopicScan.objects(file: dir + "/alerts.jsonl")) ?? []
            } else {
                let logger = makeLogger("tokenwatch.report")
                boards = try TopicScan.objects(brokers: k.brokers, topic: k.leaderboardTopic, librdkafka: k.librdkafka, logger: logger)
                alerts = try TopicScan.objects(brokers: k.brokers, topic: k.alertsTopic, librdkafka: k.librdkafka, logger: logger)
            }
        } catch {
            FileHandle.standardError.write(Data("tokenwatch report: \(error)\n".utf8))
            throw Exit.runtime
        }
        let report = WeeklyReport(week: week, fromMs: WeeklyReport.weekStart(week)!, window: window, team: team,
                                  target: configuration.leaderboard.adoptionTarget, boards: boards, alerts: alerts)
        if report.boards.isEmpty {
            FileHandle.standardError.write(Data("tokenwatch report: no \(window) board in week \(week)\(team.map { " for team \($0)" } ?? "")\n".utf8))
            throw Exit.runtime
        }
        let text = format == "csv" ? report.csv() : format == "json" ? report.json() : report.markdown()
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
