extension StateIdentity {
    /// Whether a checkpoint stamped `found` may be restored by a daemon with this identity.
    ///
    /// Throws when the state directory is another deployment's: another cluster or group, or inputs with
    /// no topic in common (one input under another name, as before `inputs:`). Returns the reason to
    /// rebuild when the inputs overlap but differ (a topic added, removed, re-partitioned or read in
    /// another format), since the engine's partition ids would mean other partitions. Nil: it fits.
    func rebuildReason(restoring found: StateIdentity, path: String) throws -> String? {
        let commonTopics = Set(inputs.topics).intersection(found.inputs.topics)
        for (mine, theirs, what) in [(clusterId, found.clusterId, "cluster"), (groupId, found.groupId, "group"),
                                     (commonTopics.isEmpty ? inputTopic : "", commonTopics.isEmpty ? found.inputTopic : "", "input topic")]
        where mine != theirs {
            throw PipelineRefusal("""
                checkpoint \(path) belongs to \(what) '\(theirs)', this daemon runs with \(what) '\(mine)': \
                the state directory is another deployment's. Give this daemon its own state.dir, or delete the file \
                to rebuild the state from the input
                """)
        }
        if inputs.isSingleNative && found.inputs.isSingleNative {
            return found.partitions == partitions ? nil : "the input topic had \(found.partitions) partitions, now \(partitions)"
        }
        if found.inputs != inputs {
            return "the checkpoint was written for the inputs \(found.inputs.headerText), this daemon reads \(inputs.headerText)"
        }
        return nil
    }
}
