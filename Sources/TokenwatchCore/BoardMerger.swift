/// Merges every partition's reports into the published boards, a snapshot time once every partition
/// reported it (or is known to hold nothing then), oldest first.
public struct BoardMerger: Sendable {
    /// An engine that holds no users, for what boards are published with (windows, roster, privacy).
    var template: Engine
    public let partitions: Int32
    var reports: [Int64: [Int32: PartitionReport]] = [:]
    var starts: [Int32: Int64] = [:]
    var published = PublishedBoards()
    /// The last snapshot time merged.
    public private(set) var mergedThrough = Int64.min
    /// Reports of another shape (other windows: an instance with other settings), not merged.
    public private(set) var refusedReports = 0

    public init(configuration: EngineConfiguration, inputTopic: String = "ai-usage", partitions: Int32) {
        template = Engine(configuration: configuration, inputTopic: inputTopic)
        self.partitions = partitions
    }

    /// Boards up to `asOf` were published by a merging instance before this one: not again.
    public mutating func skip(through asOf: Int64) {
        guard asOf > mergedThrough else { return }
        mergedThrough = asOf
        reports = reports.filter { $0.key > asOf }
    }

    /// Reads one partition's report (a report of a time already merged is a repeat and is dropped).
    public mutating func add(_ report: PartitionReport) {
        let windows = template.configuration.windows.count
        guard report.partition >= 0, report.partition < partitions, report.boards.count == windows,
              report.tallies.count == windows else {
            refusedReports += 1
            return
        }
        starts[report.partition] = report.start
        guard report.asOf > mergedThrough else { return }
        reports[report.asOf, default: [:]][report.partition] = report
    }

    /// The boards of every time every partition reported, oldest first.
    public mutating func takeBoards() -> [OutputRecord] {
        var records: [OutputRecord] = []
        while let asOf = reports.keys.min(), let parts = complete(asOf) {
            // One engine's first snapshot interval starts at its earliest first event; instances start
            // theirs earlier (the lateness before their own), and their boards before it are not published.
            let first = parts.compactMap { $0?.firstEvent }.filter { $0 != .min }.min()
            let interval = template.configuration.snapshotIntervalMs
            if let first, asOf > floorDiv(first, interval) * interval { merge(parts, asOf: asOf, into: &records) }
            reports[asOf] = nil
            mergedThrough = asOf
        }
        return records
    }

    /// Every partition's report of `asOf` (nil for one that held nothing), or nil while one is missing.
    func complete(_ asOf: Int64) -> [PartitionReport?]? {
        let got = reports[asOf] ?? [:]
        var parts: [PartitionReport?] = []
        for p in 0..<partitions {
            if let r = got[p] { parts.append(r) } else if let s = starts[p], s >= asOf { parts.append(nil) } else { return nil }
        }
        return parts
    }

    mutating func merge(_ parts: [PartitionReport?], asOf: Int64, into records: inout [OutputRecord]) {
        let configuration = template.configuration
        var boards: [[LeaderboardSnapshot]] = []
        for w in configuration.windows.indices {
            let partials = parts.map { $0.map { $0.boards[w] } ?? [] }
            let merged = BoardMerge.merge(partials, window: configuration.windows[w].name, rankBy: configuration.rankBy,
                                          topK: configuration.topK)
            boards.append(template.applyRoster(merged, tallies: parts.map { $0.map { $0.tallies[w] } ?? [:] }, window: w))
        }
        template.publish(boards, changed: true, into: &published, asOf: asOf, to: &records, unattributed: IngestState())
    }
}
