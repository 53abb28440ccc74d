import Foundation
import Testing

/// `tokenwatch explain` on a mixed population: a flagged persona gets its rule readings and the evidence
/// of its alerts; a legitimate power user gets why nothing fired.
@Suite("tokenwatch explain")
struct ExplainTests {
    /// Two simulated days of the mixed population as a file, and its ground truth (user → persona).
    static func population(_ h: Harness) async throws -> (events: URL, personas: [String: String]) {
        let events = h.directory.appendingPathComponent("events.jsonl")
        let labels = h.directory.appendingPathComponent("labels.json")
        let gen = try await h.runTool("loadgen", h.tokenwatch, [
            "loadgen", "--config", h.emptyConfig.path, "--scenario", "mixed", "--users", "60", "--span", "2d",
            "--start", "2026-11-16T00:00:00Z", "--seed", "8", "--file", events.path, "--labels", labels.path,
        ])
        h.expect(gen.exitStatus == 0, "loadgen failed: \(gen.stderr)")
        let truth = try JSONSerialization.jsonObject(with: Data(contentsOf: labels)) as? [String: Any]
        let users = truth?["users"] as? [String: [String: Any]] ?? [:]
        return (events, users.compactMapValues { $0["persona"] as? String })
    }

    func explain(_ h: Harness, _ user: String, _ events: URL, json: Bool = false) async throws -> Child {
        try await h.runTool("explain", h.tokenwatch, ["explain", user, "--input", events.path, "--config", h.emptyConfig.path]
                                + (json ? ["--json"] : []), timeout: .seconds(120))
    }

    @Test("a flagged persona: readings with thresholds, the firing rules, alerts with evidence; a power user: why nothing fired")
    func flaggedAndLegitimate() async throws {
        try await Harness.run("explain") { h in
            let (events, personas) = try await Self.population(h)
            let inflater = try #require(personas.filter { $0.value == "inflater" }.keys.sorted().first)
            let power = try #require(personas.filter { $0.value == "power_user" }.keys.sorted().first)

            let flagged = try await explain(h, inflater, events)
            h.expect(flagged.exitStatus == 0, "explain \(inflater) exited \(flagged.exitStatus ?? -1): \(flagged.stderr)")
            let text = flagged.stdout
            for rule in ["volume_spike", "peer_outlier", "low_yield", "machine_cadence", "duplicate_prompts",
                         "leaderboard_sprint", "mandate_minimum"] {
                h.expect(text.contains("  \(rule) ("), "no reading of \(rule) for \(inflater):\n\(text)")
            }
            h.expect(text.contains("peer_outlier (warning): FIRING"), "peer_outlier not firing for inflater \(inflater):\n\(text)")
            h.expect(text.contains("robust_z") && text.contains(">= 5"), "the robust z and its threshold are missing:\n\(text)")
            h.expect(text.contains("evidence: ") && text.contains("team_median_tokens="), "no evidence in the alerts:\n\(text)")
            // Wrapped at 80 columns: compare with the line breaks folded.
            let folded = text.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            h.expect(folded.contains("effective tokens = raw × (1 − suspicion)"), "no reason why effective differs:\n\(text)")

            let legit = try await explain(h, power, events)
            h.expect(legit.exitStatus == 0, "explain \(power) exited \(legit.exitStatus ?? -1): \(legit.stderr)")
            h.expect(legit.stdout.contains("Nothing fired."), "power user \(power) is not explained as clean:\n\(legit.stdout)")
            h.expect(legit.stdout.contains("suspicion 0.00"), "power user \(power) has suspicion:\n\(legit.stdout)")
            h.expect(legit.stdout.contains("  peer_outlier        robust_z "), "no reason why peer_outlier did not fire:\n\(legit.stdout)")

            // --json: the same document as /users/<id>.
            let json = try await explain(h, inflater, events, json: true)
            let doc = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
            h.expect(doc?["schema"] as? String == "tokenwatch.user.v1", "explain --json: \(json.stdout.prefix(300))")
            let rules = doc?["rules"] as? [[String: Any]] ?? []
            let peer = rules.first { $0["rule"] as? String == "peer_outlier" }
            h.expect(peer?["open_alert"] is [String: Any], "peer_outlier has no open alert in the JSON")
            h.expect((doc?["alerts"] as? [[String: Any]])?.contains { $0["rule"] as? String == "peer_outlier" } == true,
                     "the peer_outlier alert message is missing from the JSON")

            let unknown = try await explain(h, "nobody-at-all", events)
            h.expect(unknown.exitStatus == 1 && unknown.stderr.contains("no event of user 'nobody-at-all'"),
                     "an unknown user: exit \(unknown.exitStatus ?? -1), \(unknown.stderr)")
        }
    }
}
