"""What the usage costs, read from the rollups: attribution to agents, spend and run-rate, windows,
reconciliation with provider-reported cost, and the FinOps FOCUS export.

attribution (usage -> agent, at query time) · spend (reports, agent cards, series) · window
(periods and projections) · reconcile · focus.
"""
