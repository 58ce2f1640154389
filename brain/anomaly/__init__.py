"""Anomaly detection on per-agent usage: detectors, cause decomposition, change linking, acks.

config (thresholds) · series and stats (the dense hourly series, robust statistics) · detect
(the fast hourly and slow CUSUM paths) · explain (cost decomposition, change links) · scan (one
scan over a series table) · usage (that table, from the store) · changes (change notes and agent
context from the graph) · acks · horizon (the scan a listing or an ack reads, from ScanInputs).

Re-exported lazily: the CLI reads `brain.anomaly.config` to build its parser and must not load
numpy, pyarrow and the store to do so.
"""

from typing import TYPE_CHECKING

from brain.exports import lazy

if TYPE_CHECKING:
    from brain.anomaly.acks import load_acks as load_acks
    from brain.anomaly.changes import change_notes as change_notes
    from brain.anomaly.config import SEVERITIES as SEVERITIES
    from brain.anomaly.config import AnomalyConfig as AnomalyConfig
    from brain.anomaly.explain import ChangeNote as ChangeNote
    from brain.anomaly.explain import decompose_cost_change as decompose_cost_change
    from brain.anomaly.explain import link_changes as link_changes
    from brain.anomaly.horizon import ScanInputs as ScanInputs
    from brain.anomaly.horizon import acknowledge as acknowledge
    from brain.anomaly.horizon import detect_anomalies as detect_anomalies
    from brain.anomaly.horizon import scan_horizon as scan_horizon
    from brain.anomaly.horizon import scan_newest_hour as scan_newest_hour
    from brain.anomaly.horizon import scan_until as scan_until
    from brain.anomaly.horizon import select as select
    from brain.anomaly.scan import Ack as Ack
    from brain.anomaly.scan import AgentInfo as AgentInfo
    from brain.anomaly.scan import Anomaly as Anomaly
    from brain.anomaly.scan import scan_series as scan_series

_EXPORTS = {
    "load_acks": "brain.anomaly.acks",
    "change_notes": "brain.anomaly.changes",
    "AnomalyConfig": "brain.anomaly.config",
    "SEVERITIES": "brain.anomaly.config",
    "ChangeNote": "brain.anomaly.explain",
    "decompose_cost_change": "brain.anomaly.explain",
    "link_changes": "brain.anomaly.explain",
    "ScanInputs": "brain.anomaly.horizon",
    "acknowledge": "brain.anomaly.horizon",
    "detect_anomalies": "brain.anomaly.horizon",
    "scan_horizon": "brain.anomaly.horizon",
    "scan_newest_hour": "brain.anomaly.horizon",
    "scan_until": "brain.anomaly.horizon",
    "select": "brain.anomaly.horizon",
    "Ack": "brain.anomaly.scan",
    "AgentInfo": "brain.anomaly.scan",
    "Anomaly": "brain.anomaly.scan",
    "scan_series": "brain.anomaly.scan",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy(__name__, _EXPORTS)
