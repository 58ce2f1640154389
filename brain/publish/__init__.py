"""Cost and anomaly notes, the dashboard, a Bases table and charts, written into the vault.

notes (what is written) · files (writing it safely: only the brain's own files are replaced).
"""
