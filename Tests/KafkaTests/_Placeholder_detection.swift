// placeholder so the package builds on this branch until the KafkaTests module lands
