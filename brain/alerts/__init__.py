"""Alerts that reach the owner: settings from the vault, routing by the graph, delivery through
Apprise, and the pass that decides what to send and records what was sent.

settings (the settings note and per-note overrides) · channels (channel names to URLs, kept out of
the vault) · route (agent -> owner -> team -> default) · messages (what a message says) · decide
(which messages a pass owes) · deliver (Apprise, retries) · state (delivery records in the store)
· run (one pass: scan results in, messages out, recorded).
"""
