"""The demo company: its notes and stories (company), its usage (usage), and the build (build)."""
