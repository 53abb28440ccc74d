/// The configuration's keys as a tree of sections, for walking a YAML document.
indirect enum KeySchema {
    /// A mapping of named children.
    case section([String: KeySchema])
    /// A key with a value.
    case leaf(ConfigurationKey)
    /// A mapping whose keys are librdkafka property names and whose values are scalars.
    case librdkafkaProperties

    /// The tree of `keys`, with `kafka.librdkafka` as `.librdkafkaProperties`.
    static func tree(of keys: [ConfigurationKey]) -> KeySchema {
        var entries: [(path: [String], node: KeySchema)] = keys.map {
            ($0.path.split(separator: ".").map(String.init), .leaf($0))
        }
        entries.append((ConfigurationKeys.librdkafkaPath.split(separator: ".").map(String.init), .librdkafkaProperties))
        return build(entries)
    }

    private static func build(_ entries: [(path: [String], node: KeySchema)]) -> KeySchema {
        var children: [String: KeySchema] = [:]
        let grouped = Dictionary(grouping: entries, by: { $0.path[0] })
        for (name, group) in grouped {
            if group.count == 1, group[0].path.count == 1 {
                children[name] = group[0].node
            } else {
                children[name] = build(group.map { (Array($0.path.dropFirst()), $0.node) })
            }
        }
        return .section(children)
    }
}
