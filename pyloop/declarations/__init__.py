"""What sits beside a model as data: scenarios, uncertainty, observations, the
loop catalogue and the ledger, read and checked against the model."""
