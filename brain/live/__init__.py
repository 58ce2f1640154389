"""The running brain: a served Brain kept current (vault watcher, shared store, control endpoint,
OTLP collector, debounced publisher) and the hand-off of writes to a running server.

server (LiveBrain) · control (the loopback control endpoint and its client) · handoff (ingest and
acks routed to a running server or the local store) · timers · watch · collector.
"""
