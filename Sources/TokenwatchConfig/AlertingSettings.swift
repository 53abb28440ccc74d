import TokenwatchCore
import Yams

/// The `alerting:` section: where alerts are delivered besides the alerts topic.
public struct AlertingSettings: Sendable, Equatable {
    /// Webhooks each alert (firing and resolved) is posted to once (key `webhooks`, default none).
    public var webhooks: [WebhookSettings] = []

    /// The defaults.
    public init() {}
}

/// One webhook of `alerting.webhooks`.
public struct WebhookSettings: Sendable, Equatable {
    /// Payload shapes.
    public enum Format: String, Sendable, CaseIterable {
        /// Alertmanager's webhook payload (version 4), one alert per post.
        case alertmanager
        /// A Slack incoming-webhook message (`text`).
        case slack
        /// The alert message as on the alerts topic.
        case json
    }

    /// `http://` or `https://` URL (key `url`, required).
    public var url: String
    /// Key `format`, default `json`.
    public var format: Format = .json
    /// Alerts below this severity are not posted (key `min_severity`, default `info`).
    public var minSeverity: Severity = .info
    /// Only these rules (key `rules`, default all).
    public var rules: [String] = []
    /// Only these teams (key `teams`, default all).
    public var teams: [String] = []
    /// Environment variable holding a token sent as `Authorization: Bearer` (key `bearer_token_env`).
    public var bearerTokenEnv: String?
    /// Header name and the environment variable holding its secret value (keys `secret_header`, `secret_env`).
    public var secretHeader: String?
    public var secretEnv: String?

    public init(url: String) { self.url = url }
}

extension ValueParser {
    static let webhookFields = ["url", "format", "min_severity", "rules", "teams", "bearer_token_env", "secret_header", "secret_env"]

    /// One item of `alerting.webhooks`: a YAML mapping (from the file), or a bare URL (from the environment).
    static func webhook(_ text: String) throws(ValueProblem) -> WebhookSettings {
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch { throw ValueProblem("\(text.quoted) is not a webhook") }
        guard case .mapping(let mapping)? = node else { return try webhookURL(text) }
        var hook = WebhookSettings(url: "")
        for (keyNode, value) in mapping {
            let field = keyNode.string ?? ""
            guard webhookFields.contains(field) else {
                throw ValueProblem("'\(field)' is not a webhook field; they are \(webhookFields.joined(separator: ", "))")
            }
            try apply(field, value, to: &hook)
        }
        guard !hook.url.isEmpty else { throw ValueProblem("a webhook needs a url") }
        if (hook.secretHeader == nil) != (hook.secretEnv == nil) {
            throw ValueProblem("secret_header and secret_env go together (the header's value comes from the environment)")
        }
        return hook
    }

    private static func apply(_ field: String, _ value: Node, to hook: inout WebhookSettings) throws(ValueProblem) {
        func text() throws(ValueProblem) -> String {
            guard let s = value.string else { throw ValueProblem("webhook field '\(field)' must be one value") }
            return s
        }
        func list() throws(ValueProblem) -> [String] {
            guard case .sequence(let items) = value else { return try [text()] }
            return items.compactMap(\.string)
        }
        switch field {
        case "url": hook.url = try webhookURL(try text()).url
        case "format": hook.format = try choice(try text(), what: "webhook format")
        case "min_severity": hook.minSeverity = try severity(try text())
        case "rules": hook.rules = try list()
        case "teams": hook.teams = try list()
        case "bearer_token_env": hook.bearerTokenEnv = try nonEmpty(try text(), what: "bearer_token_env")
        case "secret_header": hook.secretHeader = try nonEmpty(try text(), what: "secret_header")
        default: hook.secretEnv = try nonEmpty(try text(), what: "secret_env")
        }
    }

    private static func webhookURL(_ text: String) throws(ValueProblem) -> WebhookSettings {
        let url = text.trimmingBlanks()
        guard url.hasPrefix("http://") || url.hasPrefix("https://"), url.count > 8, !url.contains(" ") else {
            throw ValueProblem("\(text.quoted) is not an http:// or https:// URL")
        }
        return WebhookSettings(url: url)
    }
}
