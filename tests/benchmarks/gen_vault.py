"""Generate a synthetic company vault (agents, tools, people, teams, changes) for benchmarks."""

from __future__ import annotations

import random
from pathlib import Path


def generate_vault(root: Path, notes: int = 10_000, seed: int = 0) -> dict:
    """Write ~`notes` notes with ~3.5 links each (property, Dataview and body links); return counts."""
    rng = random.Random(seed)
    root = Path(root)
    n_teams = max(2, notes // 100)
    n_people = notes * 30 // 100
    n_tools = notes * 15 // 100
    n_integrations = notes * 5 // 100
    n_agents = notes * 25 // 100
    n_changes = notes - n_teams - n_people - n_tools - n_integrations - n_agents
    teams = [f"Team {i:03d}" for i in range(n_teams)]
    people = [f"Person {i:05d}" for i in range(n_people)]
    tools = [f"Tool {i:05d}" for i in range(n_tools)]
    integrations = [f"Integration {i:04d}" for i in range(n_integrations)]
    agents = [f"Agent {i:05d}" for i in range(n_agents)]
    links = 0

    def write(folder: str, name: str, text: str) -> None:
        p = root / folder / f"{name}.md"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")

    for t in teams:
        lead = rng.choice(people)
        write("Teams", t, f"---\ntype: team\nlead: \"[[{lead}]]\"\ntags: [team]\n---\n# {t}\n\nThe {t} team.\n")
        links += 1
    for p in people:
        team = rng.choice(teams)
        write("People", p, f"---\ntype: person\nteam: \"[[{team}]]\"\nemail: {p.replace(' ', '.').lower()}@example.com\n---\n# {p}\n")
        links += 1
    for t in tools:
        dep = rng.choice(integrations)
        write("Tools", t, f"---\ntype: tool\nowner: \"[[{rng.choice(teams)}]]\"\n---\n# {t}\n\nCalls [[{dep}]].\n")
        links += 2
    for i in integrations:
        write("Integrations", i, f"---\ntype: integration\nowner: \"[[{rng.choice(teams)}]]\"\n---\n# {i}\n")
        links += 1
    for n, a in enumerate(agents):
        uses = rng.sample(tools, 3)
        integ = rng.choice(integrations)
        uses_yaml = ", ".join(f'"[[{u}]]"' for u in uses)
        body_links = " and ".join(f"[[{x}]]" for x in rng.sample(tools + agents, 3))
        write(
            "Agents",
            a,
            "---\n"
            "type: agent\n"
            f"agent_id: agent-{n:05d}\n"
            f"owner: \"[[{rng.choice(people)}]]\"\n"
            f"uses: [{uses_yaml}]\n"
            f"api_keys: [key_{n:05d}]\n"
            f"service_names: [svc-{n:05d}]\n"
            "model: gpt-4o-mini\n"
            "tags: [agent, cost/tracked]\n"
            "---\n"
            f"# {a}\n\nThis agent talks to {body_links}.\n\n"
            f"integrations:: [[{integ}]]\n\n## Runbook\n\nSee [[#Runbook]] and `[[not a link]]`.\n",
        )
        links += 3 + 3 + 1 + 1
    for c in range(n_changes):
        a = rng.choice(agents)
        write(
            "Changes",
            f"Change {c:05d}",
            f"---\ntype: change\nagent: \"[[{a}]]\"\ndate: 2026-{rng.randint(1, 11):02d}-{rng.randint(1, 28):02d}\nkind: deploy\n---\n"
            f"Deployed [[{a}]] with a new prompt.\n",
        )
        links += 2
    return {"notes": notes, "links": links, "agents": n_agents}


if __name__ == "__main__":
    import sys

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "bench-data/vault-10k")
    print(generate_vault(out))
