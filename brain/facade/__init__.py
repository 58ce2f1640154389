"""Brain: the vault, its graph and the usage store joined; the one facade adapters use.

core (the Brain class: vault, graph, store, costs, anomalies, publish, notes) · alerting (its
alert settings, budgets, alert passes and anomaly-note writes, a mixin of Brain).
"""

from brain.facade.core import AGENT_SORT_KEYS, COST_FIELDS, Brain

__all__ = ["AGENT_SORT_KEYS", "COST_FIELDS", "Brain"]
