"""Sending through Apprise (Slack, Teams, Discord, Telegram, ntfy, email, JSON webhooks, ...): one
Apprise object per channel URL, each call bounded in time, channels in parallel so one that
fails (HTTP 500, a timeout, an unknown host) never holds up the others. Errors are reported with
the URL masked."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from brain.alerts.channels import masked_url, scrub

log = logging.getLogger(__name__)

TIMEOUT_S = 10.0  # the longest one message may take, all of it (connect, send, answer)
MAX_CHANNELS_AT_ONCE = 8


@dataclass(frozen=True)
class Outcome:
    """How one message went: `ok`, else the error in words (URL masked)."""

    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class Job:
    """One message to one channel: `id` is the caller's to match outcomes with."""

    id: tuple[str, str]
    url: str | None
    title: str
    body: str
    notify_type: str = "info"  # info | success | warning | failure (Apprise's NotifyType)


def notify_type(kind: str, severity: str | None, title: str = "") -> str:
    """Apprise's notification type for a message (the colour or icon some services show): a
    resolution is a success, unless it is the first word of an episode (`[warn, ended] ...`)."""
    if kind == "resolved" and title.startswith("[resolved]"):
        return "success"
    return {"critical": "failure", "warn": "warning"}.get(severity or "", "info")


def _notifier(url: str, timeout_s: float):
    """An Apprise object for one URL with its socket timeouts bounded (unless the URL sets
    `cto`/`rto` itself), or the reason there is none."""
    import apprise

    # Apprise's log lines are captured into each result (`_errors`) and logged once below with the
    # alert and channel they concern; not also on the root handlers.
    logging.getLogger("apprise").propagate = False
    asset = apprise.AppriseAsset(app_id="Company Brain", app_desc="Company Brain alerts")
    plugin = apprise.Apprise.instantiate(url, asset=asset)
    if plugin is None:
        scheme = url.partition("://")[0] if "://" in url else "?"
        return None, f"{masked_url(url)} is not a URL Apprise can use (scheme {scheme!r})"
    query = url.partition("?")[2]
    params = {p.partition("=")[0].lower() for p in query.split("&") if p}
    if "cto" not in params:
        plugin.socket_connect_timeout = min(float(plugin.socket_connect_timeout or timeout_s), timeout_s)
    if "rto" not in params:
        plugin.socket_read_timeout = min(float(plugin.socket_read_timeout or timeout_s), timeout_s)
    ap = apprise.Apprise(asset=asset)
    ap.add(plugin)
    return ap, None


def _errors(result, url: str) -> str:
    """The error lines Apprise captured for a call, masked."""
    lines = []
    for entry in result.logs():
        if entry.level in ("WARNING", "ERROR", "CRITICAL") and entry.message not in lines:
            lines.append(entry.message)
    status = getattr(result.status, "name", str(result.status)).lower()
    text = "; ".join(lines) or f"Apprise reported {status}"
    return scrub(text, url)


def _send_channel(url: str | None, jobs: Sequence[Job], timeout_s: float) -> list[tuple[tuple[str, str], Outcome]]:
    """Send a channel's jobs one after another; every job gets an outcome, whatever happens."""
    if url is None:
        return [(j.id, Outcome(False, f"channel {j.id[1]!r} has no URL")) for j in jobs]
    try:
        ap, problem = _notifier(url, timeout_s)
    except Exception as exc:  # a plugin refusing its URL: that channel fails, the others go on
        ap, problem = None, scrub(f"{type(exc).__name__}: {exc}", url)
    if ap is None:
        return [(j.id, Outcome(False, problem)) for j in jobs]
    out = []
    for j in jobs:
        try:
            result = ap.notify(body=j.body, title=j.title, notify_type=j.notify_type, body_format="markdown",
                               timeout=timeout_s)
            outcome = Outcome(True) if bool(result) else Outcome(False, _errors(result, url))
        except Exception as exc:  # reported per message; never stops the other channels
            outcome = Outcome(False, scrub(f"{type(exc).__name__}: {exc}", url))
        if not outcome.ok:
            log.warning("alert %s to channel %s failed: %s", j.id[0], j.id[1], outcome.error)
        out.append((j.id, outcome))
    return out


def deliver(jobs: Sequence[Job], timeout_s: float = TIMEOUT_S) -> dict[tuple[str, str], Outcome]:
    """Send every job, channels in parallel, each channel's messages in order; outcome per job id."""
    by_url: dict[str | None, list[Job]] = {}
    for j in jobs:
        by_url.setdefault(j.url, []).append(j)
    if not by_url:
        return {}
    results: dict[tuple[str, str], Outcome] = {}
    with ThreadPoolExecutor(max_workers=min(MAX_CHANNELS_AT_ONCE, len(by_url)), thread_name_prefix="brain-alert") as pool:
        for part in pool.map(lambda item: _send_channel(item[0], item[1], timeout_s), by_url.items()):
            results.update(part)
    return results
