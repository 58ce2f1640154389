"""The demo company: its people, teams, agents, timeline of changes, and the notes that describe it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def key_id(provider: str, label: str) -> str:
    """A stable provider-style API key id (never a secret) for a demo key label."""
    digest = hashlib.sha256(f"demo-key:{label}".encode()).digest()
    body = "".join(_B62[b % 62] for b in digest[:18])
    return f"apikey_01{body}" if provider == "anthropic" else f"key_{body[:16]}"


@dataclass(frozen=True)
class Developer:
    """A developer with a personal API key; `claimed_by` is the agent note that lists the key."""

    name: str
    team: str
    provider: str
    model: str
    claimed_by: str | None = None

    @property
    def key(self) -> str:
        """The provider key id of this developer's personal key."""
        return key_id(self.provider, f"personal:{self.name}")


TEAMS = {
    "Platform": "Priya Raman",
    "Research": "Mei Chen",
    "Data": "Jonas Becker",
    "Developer Experience": "Amara Okafor",
    "Sales": "Lucia Ortega",
}

# Twelve developers; five personal keys run weekend scripts whose notes claim them, seven do not.
DEVELOPERS = (
    Developer("Priya Raman", "Platform", "openai", "gpt-4.1"),
    Developer("Tomás Alvarez", "Platform", "openai", "gpt-4.1", claimed_by="Lead Enricher"),
    Developer("Sam Patel", "Platform", "openai", "gpt-4.1-mini", claimed_by="Churn Predictor"),
    Developer("Sofia Rossi", "Platform", "openai", "gpt-4.1"),
    Developer("Mei Chen", "Research", "anthropic", "claude-sonnet-4-5"),
    Developer("Yuki Tanaka", "Research", "openai", "o4-mini", claimed_by="Competitor Watch"),
    Developer("Jonas Becker", "Data", "openai", "o4-mini"),
    Developer("Lena Fischer", "Data", "openai", "gpt-4.1-mini", claimed_by="Slack Digest"),
    Developer("Omar Haddad", "Data", "openai", "gpt-4.1-mini"),
    Developer("Amara Okafor", "Developer Experience", "anthropic", "claude-sonnet-4-5"),
    Developer("Ines Moreau", "Developer Experience", "anthropic", "claude-haiku-4-5"),
    Developer("Kofi Mensah", "Developer Experience", "anthropic", "claude-haiku-4-5", claimed_by="Changelog Drafter"),
)
OTHER_PEOPLE = (("Lucia Ortega", "Sales", "Head of sales"),)

SUPPORT_KEY = key_id("openai", "support-prod")
SUMMARISER_KEY = key_id("openai", "batch-summaries")
SALES_KEY = key_id("openai", "sales-copilot")
OPS_SHARED_KEY = key_id("openai", "ops-shared")


def developer(name: str) -> Developer:
    """The developer with this name."""
    return next(d for d in DEVELOPERS if d.name == name)


def claimed_key(agent: str) -> str:
    """The personal key id an agent note claims."""
    return next(d.key for d in DEVELOPERS if d.claimed_by == agent)


@dataclass(frozen=True)
class Timeline:
    """When the demo's stories happen, derived from `now` so the demo always ends today."""

    now: datetime
    days: int

    @property
    def start(self) -> datetime:
        """First instant of generated usage."""
        return self.now - timedelta(days=self.days)

    @property
    def today(self) -> datetime:
        """Midnight UTC of `now`'s day."""
        return self.now.replace(hour=0, minute=0, second=0, microsecond=0)

    @property
    def support_email_launch(self) -> datetime:
        """Planned deploy: support also answers email (+20% conversations)."""
        return self.today - timedelta(days=min(35, self.days // 2)) + timedelta(hours=9)

    @property
    def support_docs_change(self) -> datetime:
        """A docs-only change near nothing (a negative for the detectors)."""
        return self.today - timedelta(days=min(12, self.days // 4)) + timedelta(hours=16, minutes=30)

    @property
    def summariser_schedule_change(self) -> datetime:
        """The cron edit that made the daily summariser run every hour."""
        return self.today - timedelta(days=5) + timedelta(hours=14, minutes=20)

    @property
    def research_prompt_change(self) -> datetime:
        """The research assistant's prompt v4 that doubled tokens per request: shipped on the third
        workday before today (3-5 days ago), so that two whole workdays show it whatever the weekday
        of today: the assistant is used on workdays, and a shift is judged on whole days (shipped on
        a Friday and seen on a Monday evening, it had one, and the demo missed its own headline)."""
        day, workdays = self.today, 0
        while workdays < 3:
            day -= timedelta(days=1)
            workdays += day.weekday() < 5
        return day + timedelta(hours=10, minutes=5)

    @property
    def loop_saturday(self) -> datetime:
        """Midnight of last weekend's Saturday (the last weekend fully in the past)."""
        sat = self.today - timedelta(days=(self.today.weekday() - 5) % 7)
        if sat + timedelta(days=2) > self.today:
            sat -= timedelta(days=7)
        return sat

    @property
    def loop_config_change(self) -> datetime:
        """Friday evening: the lead enricher learns to retry on any error, without backoff."""
        return self.loop_saturday - timedelta(hours=5, minutes=30)

    @property
    def loop_window(self) -> tuple[datetime, datetime]:
        """The weekend retry loop, Saturday 07:00 to Sunday 19:00 UTC."""
        return self.loop_saturday + timedelta(hours=7), self.loop_saturday + timedelta(hours=43)


def default_now() -> datetime:
    """Now in UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0)


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _note(props: dict, body: str) -> str:
    fm = yaml.safe_dump(props, sort_keys=False, allow_unicode=True, width=1000)
    return f"---\n{fm}---\n{body.strip()}\n"


def _fake_secret(seed: int) -> str:
    """A secret-shaped string (not a real key) that a careless note pastes, for `brain check`."""
    digest = hashlib.sha256(f"demo-secret:{seed}".encode()).digest()
    return "sk-" + "proj-" + "".join(_B62[b % 62] for b in digest) + "".join(_B62[b % 62] for b in digest[:16])


def company_notes(tl: Timeline, seed: int) -> dict[str, str]:
    """Every note of the demo company, as vault-relative path -> Markdown text."""
    notes: dict[str, str] = {}

    for team, lead in TEAMS.items():
        notes[f"Teams/{team}.md"] = _note(
            {"type": "team", "lead": f"[[{lead}]]", "slack": "#team-" + team.lower().replace(" ", "-"),
             "notify": team.lower().replace(" ", "-") + "-alerts"},
            f"# {team}\n",
        )
    for d in DEVELOPERS:
        notes[f"People/{d.name}.md"] = _note(
            {"type": "person", "team": f"[[{d.team}]]", "email": _email(d.name), "role": "Engineer"},
            f"# {d.name}\n\nPersonal {d.provider} key id: `{d.key}`.\n",
        )
    for name, team, role in OTHER_PEOPLE:
        notes[f"People/{name}.md"] = _note(
            {"type": "person", "team": f"[[{team}]]", "email": _email(name), "role": role}, f"# {name}\n"
        )

    notes["Tools/Vector Store.md"] = _note(
        {"type": "tool", "owner": "[[Platform]]", "vendor": "pgvector", "status": "active"},
        "# Vector Store\n\nHelp-centre articles, contracts and product docs, embedded nightly.\n",
    )
    notes["Tools/Web Search.md"] = _note(
        {"type": "tool", "owner": "[[Research]]", "vendor": "Brave Search API", "status": "active"},
        "# Web Search\n",
    )
    for name, owner, vendor in (
        ("CRM", "Platform", "Salesforce"),
        ("GitHub", "Developer Experience", "GitHub"),
        ("Data Warehouse", "Data", "Snowflake"),
        ("Slack", "Platform", "Slack"),
    ):
        notes[f"Integrations/{name}.md"] = _note(
            {"type": "integration", "owner": f"[[{owner}]]", "vendor": vendor, "status": "active"},
            f"# {name}\n",
        )

    notes.update(_agent_notes(seed))
    notes.update(_change_notes(tl))
    notes["Prices/OpenAI committed-use discount.md"] = _note(
        {
            "type": "price",
            "provider": "openai",
            "model": "gpt-4.1",
            "discount_pct": 15,
            "valid_from": tl.start.date().isoformat(),
        },
        "# OpenAI committed-use discount\n\nOur annual commitment takes 15% off GPT-4.1 list prices.\n",
    )
    return notes


def _email(name: str) -> str:
    first = name.split()[0].lower().replace("á", "a").replace("é", "e")
    return f"{first}@example.com"


def _agent(props: dict, body: str) -> str:
    return _note({"type": "agent", **props}, body)


def _agent_notes(seed: int) -> dict[str, str]:
    a = {}
    a["Agents/Support Agent.md"] = _agent(
        {
            "agent_id": "support-agent",
            "aliases": ["Support Bot"],
            "owner": "[[Platform]]",
            "model": "gpt-4.1-mini",
            "provider": "openai",
            "api_keys": [SUPPORT_KEY],
            "service_names": ["support-bot"],
            "depends_on": ["[[Vector Store]]", "[[CRM]]"],
            "status": "production",
        },
        "# Support Agent\n\nAnswers ~40,000 customer conversations a month in the help widget and by "
        "email. Each conversation is one run of 2-4 calls; when retrieval pulls a long contract or "
        "invoice into context a run costs five times the usual.\n",
    )
    a["Agents/Research Assistant.md"] = _agent(
        {
            "agent_id": "research-assistant",
            "owner": "[[Mei Chen]]",
            "model": "claude-sonnet-4-5",
            "provider": "anthropic",
            "api_keys": [],
            "depends_on": ["[[Web Search]]", "[[Vector Store]]"],
            "status": "production",
        },
        "# Research Assistant\n\nEvery request runs a 12-step chain: plan, search, read, "
        "cross-check, draft, critique and revise.\n",
    )
    a["Agents/Daily Summariser.md"] = _agent(
        {
            "owner": "[[Jonas Becker]]",
            "model": "gpt-4.1",
            "provider": "openai",
            "api_keys": [SUMMARISER_KEY],
            "schedule": "daily at 02:00 UTC",
            "status": "production",
        },
        "# Daily Summariser\n\nA batch job that summarises yesterday's tickets and calls into the "
        "warehouse, forty documents per run. It should run once a day.\n\n"
        "depends_on:: [[Data Warehouse]]\n",
    )
    a["Agents/Code Review Copilot.md"] = _agent(
        {
            "owner": "[[Developer Experience]]",
            "model": "claude-sonnet-4-5",
            "provider": "anthropic",
            "service_names": ["code-review-copilot"],
            "depends_on": ["[[GitHub]]"],
            "status": "internal",
        },
        "# Code Review Copilot\n\nComments on every pull request. Reports usage over OpenTelemetry.\n",
    )
    a["Agents/Sales Email Copilot.md"] = _agent(
        {
            "agent_id": "sales-copilot",
            "owner": "[[Lucia Ortega]]",
            "model": "gpt-4.1",
            "provider": "openai",
            "api_keys": [SALES_KEY],
            "depends_on": ["[[CRM]]"],
            "status": "internal",
        },
        "# Sales Email Copilot\n\nDrafts follow-up emails from CRM notes.\n",
    )
    a["Agents/Docs Copilot.md"] = _agent(
        {
            "owner": "[[Ines Moreau]]",
            "model": "gemini-2.5-flash",
            "provider": "google",
            "service_names": ["docs-copilot"],
            "depends_on": ["[[Vector Store]]"],
            "status": "internal",
        },
        "# Docs Copilot\n\nAnswers engineers' questions about internal docs in Slack.\n",
    )
    scripts = {
        "Lead Enricher": ("gpt-4.1", "openai", "Saturdays 06:00: enriches new CRM leads.", ["[[CRM]]"]),
        "Slack Digest": ("gpt-4.1-mini", "openai", "Weekend mornings: digests busy channels.", ["[[Slack]]"]),
        "Changelog Drafter": ("claude-haiku-4-5", "anthropic", "Sunday evenings: drafts the changelog.", ["[[GitHub]]"]),
        "Competitor Watch": ("o4-mini", "openai", "Saturdays: reads competitors' release notes.", []),
        "Churn Predictor": ("gpt-4.1-mini", "openai", "Sunday nights: scores accounts for churn risk.", ["[[Data Warehouse]]"]),
    }
    for name, (model, provider, what, deps) in scripts.items():
        props = {"model": model, "provider": provider, "api_keys": [claimed_key(name)], "depends_on": deps, "status": "script"}
        body = f"# {name}\n\n{what} A weekend script somebody wrote; nobody has claimed it yet.\n"
        if name == "Churn Predictor":
            props = {"owner": "[[Alex Moreno]]", **props}
            body = (
                f"# {name}\n\n{what} Alex left in the spring.\n\n"
                f"Ran locally with OPENAI_API_KEY={_fake_secret(seed)} (rotate this!)\n"
            )
        a[f"Agents/Scripts/{name}.md"] = _agent(props, body)
    return a


def _change_notes(tl: Timeline) -> dict[str, str]:
    changes = (
        (tl.support_email_launch, "Support Agent", "deploy", True, "Support Agent answers email too",
         "Launched the email channel; about 20% more conversations expected."),
        (tl.support_docs_change, "Support Agent", "docs", False, "Support Agent runbook",
         "Rewrote the on-call runbook. No code or prompt change."),
        (tl.summariser_schedule_change, "Daily Summariser", "schedule", False, "Daily Summariser moved to the shared scheduler",
         "Moved the job to the shared scheduler with cron `0 * * * *` (the old one was `0 2 * * *`)."),
        (tl.research_prompt_change, "Research Assistant", "prompt", False, "Research Assistant prompt v4",
         "Prompt v4 adds worked examples and keeps full source excerpts in the context of every step."),
        (tl.loop_config_change, "Lead Enricher", "config", False, "Lead Enricher retries on any error",
         "Retry every failed enrichment immediately, with no backoff and no retry limit."),
    )
    out = {}
    for when, agent, kind, expected, title, summary in changes:
        name = f"{when:%Y-%m-%d} {title}"
        out[f"Changes/{name}.md"] = _note(
            {
                "type": "change",
                "agent": f"[[{agent}]]",
                "date": _iso(when),
                "kind": kind,
                "expected_cost_change": expected,
                "summary": summary,
            },
            f"# {name}\n\n{summary}\n",
        )
    return out


def write_notes(root: Path, notes: dict[str, str]) -> None:
    """Write notes (vault-relative path -> text) under root, creating folders."""
    for rel, text in notes.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
