// Keeps the KafkaTests target buildable until its tests land on this branch.
