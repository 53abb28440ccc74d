import Foundation
import Testing

@Suite("tokenwatch report --week")
struct ReportTests {
    @Test("weekly adoption against the mandate, top users raw vs effective, alerts by rule, in md, csv and json")
    func weekFromAReplay() async throws {
        try await Harness.run("report") { h in
            let events = h.directory.appendingPathComponent("events.jsonl")
            let gen = try await h.runTool("loadgen", h.tokenwatch, [
                "loadgen", "--config", h.emptyConfig.path, "--scenario", "mixed", "--users", "60", "--span", "2d",
                "--start", "2026-11-16T00:00:00Z", "--seed", "8", "--file", events.path,
            ])
            h.expect(gen.exitStatus == 0, "loadgen failed")
            let out = h.directory.appendingPathComponent("replay")
            let replay = try await h.runTool("replay", h.tokenwatch, ["replay", "--input", events.path, "--out", out.path, "--quiet",
                                                                      "--config", h.emptyConfig.path], timeout: .seconds(180))
            h.expect(replay.exitStatus == 0, "replay failed: \(replay.stderr.suffix(1000))")
            func report(_ extra: [String]) async throws -> Child {
                try await h.runTool("report", h.tokenwatch, ["report", "--week", "2026-W47", "--replay-dir", out.path,
                                                             "--config", h.emptyConfig.path] + extra)
            }
            let md = try await report([])
            h.expect(md.exitStatus == 0, "report exited \(md.exitStatus ?? -1): \(md.stderr)")
            for needle in ["# Week 2026-W47 (2026-11-16T00:00:00.000Z", "mandate 80%", "## Adoption", "| global |",
                           "## Top users, raw vs effective: global", "## Alerts by rule", "| peer_outlier |"] {
                h.expect(md.stdout.contains(needle), "the markdown report lacks '\(needle)':\n\(md.stdout.prefix(2000))")
            }
            let json = try await report(["--format", "json"])
            let doc = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
            let boards = doc?["boards"] as? [[String: Any]] ?? []
            h.expect(boards.first?["scope"] as? String == "global" && boards.allSatisfy { $0["window"] as? String == "7d" },
                     "json boards: \(boards.map { "\($0["window"] ?? "?")|\($0["scope"] ?? "?")" })")
            let rules = doc?["alerts_by_rule"] as? [[String: Any]] ?? []
            h.expect(rules.contains { $0["rule"] as? String == "peer_outlier" && ($0["firing"] as? Int ?? 0) > 0 }, "no peer_outlier count")
            let csv = try await report(["--format", "csv", "--team", "payments"])
            let rows = csv.stdout.split(separator: "\n")
            h.expect(rows.first?.hasPrefix("kind,scope,as_of,rank,user_id,team,tokens,effective_tokens") == true, "csv header: \(rows.first ?? "")")
            h.expect(rows.dropFirst().filter { $0.hasPrefix("entry,") || $0.hasPrefix("adoption,") }.allSatisfy { $0.contains(",team:payments,") },
                     "--team payments shows other scopes")
            let bad = try await report(["--week", "2026-47"])
            h.expect(bad.exitStatus == 2, "a bad --week exits \(bad.exitStatus ?? -1), not 2")
        }
    }
}
