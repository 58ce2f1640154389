"""Anomaly detection on per-agent usage: detectors, cause decomposition, change linking, acks.

config (thresholds) · series and stats (the dense hourly series, robust statistics) · detect
(the fast hourly and slow CUSUM paths) · explain (cost decomposition, change links) · scan (one
scan over a series table) · usage (that table, from the store) · changes (change notes and agent
context from the graph) · acks · horizon (the scan a listing or an ack reads, from ScanInputs).
"""

from brain.anomaly.acks import load_acks
from brain.anomaly.changes import change_notes
from brain.anomaly.config import SEVERITIES, AnomalyConfig
from brain.anomaly.explain import ChangeNote, decompose_cost_change, link_changes
from brain.anomaly.horizon import (
    ScanInputs,
    acknowledge,
    detect_anomalies,
    scan_horizon,
    scan_newest_hour,
    scan_until,
    select,
)
from brain.anomaly.scan import Ack, AgentInfo, Anomaly, scan_series

__all__ = [
    "SEVERITIES",
    "Ack",
    "AgentInfo",
    "Anomaly",
    "AnomalyConfig",
    "ChangeNote",
    "ScanInputs",
    "acknowledge",
    "change_notes",
    "decompose_cost_change",
    "detect_anomalies",
    "link_changes",
    "load_acks",
    "scan_horizon",
    "scan_newest_hour",
    "scan_series",
    "scan_until",
    "select",
]
