import Yams

/// Applies a YAML document to a configuration, naming the line of every error.
struct YAMLLayer {
    var source: String
    var schema: KeySchema
    var allPaths: [String]

    func apply(yaml: String, to config: inout TokenwatchConfiguration) throws(ConfigurationError) {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml)
        } catch {
            throw syntaxError(error, yaml: yaml)
        }
        guard let root, !isNull(root) else { return }  // empty file, or only comments
        guard case .mapping = root else {
            throw ConfigurationError(
                source: source, line: root.mark?.line, key: "",
                message: "the top level must be a mapping of sections (kafka:, engine:, windows:, ...), found \(kind(of: root))")
        }
        guard case .section(let sections) = schema else { return }
        try walk(section: root, path: "", children: sections, keyLine: nil, into: &config)
    }

    // MARK: - Walking

    private func walk(
        section node: Node, path: String, children: [String: KeySchema], keyLine: Int?,
        into config: inout TokenwatchConfiguration
    ) throws(ConfigurationError) {
        if isNull(node) { return }  // `kafka:` with every child commented out
        guard case .mapping(let mapping) = node else {
            throw error(at: keyLine ?? node.mark?.line, path, "expected a mapping of keys, found \(kind(of: node))")
        }
        for (keyNode, value) in mapping {
            guard case .scalar(let keyScalar) = keyNode else {
                throw error(at: keyNode.mark?.line, path, "keys must be plain names, found \(kind(of: keyNode))")
            }
            let name = keyScalar.string
            let fullPath = path.isEmpty ? name : path + "." + name
            let line = keyNode.mark?.line
            guard let child = children[name] else {
                throw unknownKey(fullPath, name: name, parent: path, siblings: children.keys.sorted(), line: line)
            }
            switch child {
            case .section(let grandchildren):
                try walk(section: value, path: fullPath, children: grandchildren, keyLine: line, into: &config)
            case .librdkafkaProperties:
                try walkLibrdkafka(value, path: fullPath, keyLine: line, into: &config)
            case .leaf(let key):
                try applyLeaf(key, value: value, keyLine: line, into: &config)
            }
        }
    }

    private func applyLeaf(
        _ key: ConfigurationKey, value: Node, keyLine: Int?, into config: inout TokenwatchConfiguration
    ) throws(ConfigurationError) {
        if key.isSecret {
            throw error(
                at: keyLine, key.path,
                "is a secret and may not be written in the file: set the environment variable \(key.environmentVariable)")
        }
        do {
            switch key.apply {
            case .scalar(let apply):
                try apply(&config, try scalarText(value, path: key.path, expected: key.expected, keyLine: keyLine))
            case .list(let apply):
                guard case .sequence(let sequence) = value else {
                    throw error(
                        at: keyLine, key.path,
                        "expected \(key.expected), found \(kind(of: value))")
                }
                var items: [RawItem] = []
                for item in sequence {
                    let line = item.mark?.line ?? keyLine
                    if case .mapping = item, !key.itemFields.isEmpty {
                        items.append(RawItem(text: try flatten(item, key: key, line: line), line: line))
                        continue
                    }
                    // A mapping item (a webhook) travels as its YAML text; the key's parser reads its fields.
                    if case .mapping = item, let text = try? Yams.serialize(node: item) {
                        items.append(RawItem(text: text, line: line))
                        continue
                    }
                    items.append(RawItem(text: try scalarText(item, path: key.path, expected: "one value", keyLine: line), line: line))
                }
                try apply(&config, items)
            }
        } catch let problem as ValueProblem {
            throw error(at: problem.line ?? value.mark?.line ?? keyLine, key.path, problem.message)
        } catch let configurationError as ConfigurationError {
            throw configurationError
        } catch {
            throw self.error(at: keyLine, key.path, "\(error)")
        }
    }

    /// A mapping item of a list such as `inputs:` as its compact text (`ai-usage:otlp`); a field the
    /// key does not have is an error naming it and its line.
    private func flatten(_ item: Node, key: ConfigurationKey, line: Int?) throws(ConfigurationError) -> String {
        guard case .mapping(let mapping) = item else { return "" }
        var values = [String](repeating: "", count: key.itemFields.count)
        for (fieldNode, value) in mapping {
            let name = fieldNode.scalar?.string ?? ""
            let fieldLine = fieldNode.mark?.line ?? line
            guard let index = key.itemFields.firstIndex(of: name) else {
                throw error(at: fieldLine, key.path + "." + name,
                            "is not a field of \(key.path) items; they have \(key.itemFields.joined(separator: ", "))")
            }
            let text = try scalarText(value, path: key.path + "." + name, expected: "one value", keyLine: fieldLine)
            guard !text.contains(":") else {
                throw error(at: fieldLine, key.path + "." + name, "\(text.quoted) may not contain ':'")
            }
            values[index] = text
        }
        return values.joined(separator: ":")
    }

    private func walkLibrdkafka(
        _ node: Node, path: String, keyLine: Int?, into config: inout TokenwatchConfiguration
    ) throws(ConfigurationError) {
        if isNull(node) { return }
        guard case .mapping(let mapping) = node else {
            throw error(
                at: keyLine, path,
                "expected a mapping of librdkafka properties (e.g. security.protocol: SASL_SSL), found \(kind(of: node))")
        }
        for (keyNode, value) in mapping {
            guard case .scalar(let keyScalar) = keyNode else {
                throw error(at: keyNode.mark?.line, path, "keys must be property names, found \(kind(of: keyNode))")
            }
            let property = keyScalar.string
            let fullPath = path + "." + property
            let line = keyNode.mark?.line
            if KafkaSettings.isSecretLibrdkafkaProperty(property) {
                let variable = ConfigurationKeys.environmentVariable(forLibrdkafkaProperty: property)
                throw error(
                    at: line, fullPath,
                    "is a secret and may not be written in the file: set the environment variable \(variable)")
            }
            let text = try scalarText(value, path: fullPath, expected: "a property value", keyLine: line)
            // YAML's true/false/yes/no reach librdkafka as "true"/"false", the only booleans it reads.
            var normalized = text
            if case .scalar(let scalar) = value, scalar.style == .plain, let flag = value.bool {
                normalized = String(flag)
            }
            do throws(ValueProblem) {
                try ConfigurationKeys.applyLibrdkafka(property: property, value: normalized, to: &config)
            } catch {
                throw self.error(at: line, fullPath, error.message)
            }
        }
    }

    /// The text of a scalar; an error for a list, a mapping or nothing at all.
    private func scalarText(_ node: Node, path: String, expected: String, keyLine: Int?) throws(ConfigurationError) -> String {
        guard case .scalar(let scalar) = node else {
            throw error(at: keyLine ?? node.mark?.line, path, "expected \(expected), found \(kind(of: node))")
        }
        if isNull(node) {
            throw error(at: keyLine ?? node.mark?.line, path, "has no value; expected \(expected)")
        }
        return scalar.string
    }

    // MARK: - Errors

    private func error(at line: Int?, _ key: String, _ message: String) -> ConfigurationError {
        ConfigurationError(source: source, line: line, key: key, message: message)
    }

    private func unknownKey(
        _ fullPath: String, name: String, parent: String, siblings: [String], line: Int?
    ) -> ConfigurationError {
        let prefix = parent.isEmpty ? "" : parent + "."
        var message: String
        if parent == "rules" {
            message = "unknown rule; the rules are \(RuleCatalog.rules.map(\.name).joined(separator: ", "))"
        } else {
            message = "unknown key"
        }
        if let close = Suggestion.closest(to: name, among: siblings) {
            message += "; did you mean '\(prefix + close)'?"
        } else if let elsewhere = allPaths.first(where: { $0.split(separator: ".").last.map(String.init) == name }) {
            message += "; did you mean '\(elsewhere)'?"
        } else if parent != "rules" {
            message += "; \(parent.isEmpty ? "the sections are" : "'\(parent)' takes") \(siblings.joined(separator: ", "))"
        }
        return error(at: line, fullPath, message)
    }

    private func syntaxError(_ error: any Error, yaml: String) -> ConfigurationError {
        guard let yamlError = error as? YamlError else {
            return self.error(at: nil, "", "invalid YAML: \(error)")
        }
        // libyaml's messages come as a context ("while scanning a quoted scalar") and a problem
        // ("found unexpected end of stream"), or as two halves of one sentence ("expected a single
        // document in the stream", "but found another document").
        func describe(_ problem: String, _ context: YamlError.Context?) -> String {
            guard let context else { return "invalid YAML: \(problem)" }
            if problem.hasPrefix("but ") { return "invalid YAML: \(context.text), \(problem)" }
            return "invalid YAML: \(problem) (\(context.text) at line \(context.mark.line))"
        }
        switch yamlError {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            return self.error(at: mark.line, "", describe(problem, context))
        case .reader(let problem, let offset, _, _):
            let line = offset.map { offset in 1 + yaml.prefix(offset).count(where: { $0 == "\n" || $0 == "\r\n" }) }
            return self.error(at: line, "", "invalid YAML: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let names = duplicates.sorted().map { "'\($0)'" }.joined(separator: ", ")
            return self.error(
                at: context.mark.line, "",
                "key \(names) is written more than once in the same mapping; this is the first")
        default:
            return self.error(at: nil, "", "invalid YAML: \(yamlError)")
        }
    }

    // MARK: - Node helpers

    /// A plain `~`, `null` or nothing: YAML's null, which is not the quoted string `""`.
    private func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    private func kind(of node: Node) -> String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case .scalar(let scalar):
            if isNull(node) { return "nothing" }
            return "the value \(scalar.string.quoted)"
        }
    }
}
