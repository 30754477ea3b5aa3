"""Analyses of runs: the causal structure and its loops, loop scores and
dominance, modes, knockouts, and the money ledger."""
