"""Tools grouped by domain: graph, costs, anomalies, notes."""
