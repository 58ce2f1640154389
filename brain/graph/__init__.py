"""The typed company graph (NetworkX) built from the vault, its queries, agent identities and the
load cache that keeps a warm start fast.

company (CompanyGraph, inventory gaps) · identity (AgentIdentity: what attribution matches) ·
cache (vault + graph from a snapshot, re-reading only changed notes).
"""

from brain.graph.company import CompanyGraph
from brain.graph.gaps import Gap
from brain.graph.identity import AgentIdentity

__all__ = ["AgentIdentity", "CompanyGraph", "Gap"]
