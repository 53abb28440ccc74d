import Foundation

// The dispatcher's files in the state directory, all JSON lines or plain lines, appended as they happen.
extension WebhookDispatcher {
    /// The keys already delivered (a missing file is an empty set).
    func loadDelivered() -> Set<String> {
        guard let text = try? String(contentsOfFile: deliveredPath, encoding: .utf8) else { return [] }
        return Set(text.split(separator: "\n").map(String.init))
    }

    func recordDelivered(_ key: String) {
        append(Array((key + "\n").utf8), to: deliveredPath)
    }

    /// A post given up after every try, with the last error and the body it would have sent.
    func deadLetter(_ d: Delivery, error: String) {
        deadLettered.add(1, ordering: .relaxed)
        let record: [String: Any] = [
            "schema": "tokenwatch.webhook.deadletter.v1", "url": hooks[d.hook].url, "key": d.key,
            "attempts": d.attempts, "error": error, "failed_at": WallClock.nowMs(),
            "payload": String(decoding: d.body, as: UTF8.self),
        ]
        logger.error("webhook post given up; kept in the webhooks' dead letter", metadata: [
            "url": "\(hooks[d.hook].url)", "attempts": "\(d.attempts)", "error": "\(error)", "path": "\(deadLetterPath)",
        ])
        if let line = try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]) {
            append(Array(line) + [10], to: deadLetterPath)
        }
    }

    /// Posts left at the last stop, for webhooks still configured (matched by URL).
    func loadPending() -> [Delivery] {
        guard let text = try? String(contentsOfFile: pendingPath, encoding: .utf8) else { return [] }
        try? FileManager.default.removeItem(atPath: pendingPath)
        return text.split(separator: "\n").compactMap { line in
            guard let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                  let url = o["url"] as? String, let key = o["key"] as? String, let body = o["body"] as? String,
                  let hook = hooks.firstIndex(where: { $0.url == url }) else { return nil }
            return Delivery(hook: hook, key: key, body: Array(body.utf8))
        }
    }

    func savePending(_ deliveries: [Delivery]) {
        guard !deliveries.isEmpty else { return }
        var out: [UInt8] = []
        for d in deliveries {
            let o: [String: Any] = ["url": hooks[d.hook].url, "key": d.key, "body": String(decoding: d.body, as: UTF8.self)]
            if let line = try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys]) { out += Array(line) + [10] }
        }
        append(out, to: pendingPath)
        logger.warning("webhook posts still queued at stop; sent after the next start", metadata: ["posts": "\(deliveries.count)"])
    }

    private func append(_ bytes: [UInt8], to path: String) {
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            logger.error("webhooks: cannot write \(path)")
            return
        }
        defer { try? handle.close() }
        _ = try? handle.seekToEnd()
        try? handle.write(contentsOf: bytes)
    }
}
