"""Channel names to Apprise URLs. A note names a channel (`notify: finops-slack`); its URL is a
secret and lives outside the vault: the environment variable `BRAIN_CHANNEL_<NAME>` or the user's
channels file (`name = "apprise-url"` lines, mode 0600), the variable winning over the file.
URLs are never shown in full: `masked_url` is the only form that leaves this package."""

from __future__ import annotations

import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from brain.alerts.settings import SETTINGS_NOTE, channel_name
from brain.graph.gaps import Gap
from brain.vault.secrets import mask

ENV_PREFIX = "BRAIN_CHANNEL_"
FILE_ENV = "BRAIN_CHANNELS_FILE"
SETTINGS_NODE = SETTINGS_NOTE[:-3]  # the settings note's node id, where `default_channel` is set


def env_var(name: str) -> str:
    """The environment variable that holds a channel's URL: `finops-slack` -> BRAIN_CHANNEL_FINOPS_SLACK."""
    return ENV_PREFIX + _key(name)


def _key(name: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", str(name).strip().upper())


def channels_file(env: Mapping[str, str] | None = None) -> Path:
    """The channels file: $BRAIN_CHANNELS_FILE, else $XDG_CONFIG_HOME (default ~/.config)
    /company-brain/channels.toml."""
    env = os.environ if env is None else env
    if env.get(FILE_ENV):
        return Path(env[FILE_ENV]).expanduser()
    base = Path(env["XDG_CONFIG_HOME"]).expanduser() if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    return base / "company-brain" / "channels.toml"


def masked_url(url: str) -> str:
    """A channel URL as it may be shown: its scheme, the rest masked (`json://127.0…ok (20 chars)`)."""
    scheme, sep, rest = url.partition("://")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        return mask(url)
    return f"{scheme}://{mask(rest)}" if rest else f"{scheme}://"


def scrub(text: str, url: str) -> str:
    """`text` (an error message, say) with the URL and each secret-looking part of it masked."""
    if not text or not url:
        return text
    out = text.replace(url, masked_url(url))
    _, _, rest = url.partition("://")
    parts = {p for p in re.split(r"[/?&=:@#]", rest) if len(p) >= 8}
    userinfo = rest.partition("/")[0].rpartition("@")[0]
    if ":" in userinfo and len(userinfo.partition(":")[2]) >= 3:  # a password, however short
        parts.add(userinfo.partition(":")[2])
    for part in sorted(parts, key=len, reverse=True):
        if not re.fullmatch(r"[\d.]+|[a-z0-9-]+(?:\.[a-z0-9-]+)+", part):  # host names and IPs may stay
            out = out.replace(part, mask(part))
    return out


@dataclass(frozen=True)
class ChannelBook:
    """The channels known right now: the file's (when it is usable) and the environment's."""

    file: Path
    file_urls: dict[str, str] = field(default_factory=dict)  # by _key(name)
    file_names: dict[str, str] = field(default_factory=dict)  # _key -> name as written
    problems: tuple[str, ...] = ()  # the file refused or partly unreadable, in words
    env: Mapping[str, str] = field(default_factory=dict)

    def url(self, name: str | None) -> str | None:
        """The URL of channel `name`, or None when neither the environment nor the file has one."""
        if not name or not _key(name).strip("_"):
            return None
        value = self.env.get(env_var(name))
        if value and value.strip():
            return value.strip()
        return self.file_urls.get(_key(name))

    def where(self, name: str) -> str:
        """Where the URL of `name` comes from, in words (never the URL)."""
        if (self.env.get(env_var(name)) or "").strip():
            return f"${env_var(name)}"
        return str(self.file) if _key(name) in self.file_urls else "nowhere"

    def names(self) -> list[str]:
        """Every channel with a URL, as named in the file or the environment (lower-cased there)."""
        found = dict(self.file_names)
        for k, v in self.env.items():
            if k.startswith(ENV_PREFIX) and len(k) > len(ENV_PREFIX) and v.strip():
                found.setdefault(k[len(ENV_PREFIX):], k[len(ENV_PREFIX):].lower())
        return sorted(found.values())


def load_channels(env: Mapping[str, str] | None = None) -> ChannelBook:
    """Read the channels file (refused unless owner-only) and take the environment as it is now."""
    env = dict(os.environ if env is None else env)
    path = channels_file(env)
    urls: dict[str, str] = {}
    names: dict[str, str] = {}
    problems: list[str] = []
    try:
        st = path.stat()
    except FileNotFoundError:
        return ChannelBook(path, env=env)
    except OSError as exc:
        return ChannelBook(path, problems=(f"channels file {path} cannot be read: {exc.strerror or exc}",), env=env)
    if os.name == "posix" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        problems.append(
            f"channels file {path} is readable by others (mode {stat.S_IMODE(st.st_mode):04o}); its URLs are "
            f"secrets, so it is not used: run `chmod 600 {path}`"
        )
        return ChannelBook(path, problems=tuple(problems), env=env)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return ChannelBook(path, problems=(f"channels file {path} is not valid TOML ({exc}); it is not used",), env=env)
    for name, value in data.items():
        if isinstance(value, str) and value.strip():
            urls[_key(name)] = value.strip()
            names[_key(name)] = name
        else:
            problems.append(f"channel {name!r} in {path} is not a URL in quotes (name = \"apprise-url\"); it is ignored")
    return ChannelBook(path, urls, names, tuple(problems), env)


def channel_url(name: str) -> str | None:
    """The Apprise URL of a channel name, from the environment or the channels file; None if neither has one."""
    return load_channels().url(name)


def _notify_names(value) -> list[str]:
    """The channel names a `notify` property holds; a value that is no channel name (a URL pasted
    there) is left to the note's own finding, which shows it masked, never repeated here in full."""
    values = value if isinstance(value, (list, tuple)) else [value]
    names = []
    for v in values:
        try:
            names.append(channel_name(v))
        except ValueError:
            continue
    return names


def check_url(url: str) -> str | None:
    """Why Apprise cannot use a URL (None when it can)."""
    import apprise

    if apprise.Apprise.instantiate(url) is None:
        scheme = url.partition("://")[0] if "://" in url else url[:10]
        return f"not an Apprise URL it can use (scheme {scheme!r}); see https://appriseit.com/services/"
    return None


def channel_findings(graph, default_channel: str | None, book: ChannelBook | None = None) -> list[Gap]:
    """`brain check` findings: the channels file refused or broken, each channel a note (or the
    settings note's default_channel) names that has no URL, and URLs Apprise cannot use. A channel
    without a URL is a warning: its alerts wait, owed, and go once it has one; a URL that cannot
    work or a refused channels file is an error."""
    book = load_channels() if book is None else book
    gaps = [Gap("channels_file", "error", str(book.file), p) for p in book.problems]
    named: dict[str, list[str]] = {}
    for nid in sorted(graph.notes):
        for name in _notify_names(graph.notes[nid].properties.get("notify")):
            named.setdefault(name, []).append(nid)
    if default_channel:
        named.setdefault(default_channel, []).append(SETTINGS_NODE)
    for name, nodes in sorted(named.items()):
        url = book.url(name)
        if url is None:
            for nid in nodes:
                what = "default_channel" if nid == SETTINGS_NODE else "notify"
                gaps.append(Gap("channel_without_url", "warning", nid, (
                    f"{what}: {name!r} names a channel with no URL: set ${env_var(name)} or add "
                    f"`{name} = \"apprise-url\"` to {book.file} (mode 0600); nothing is sent to it until then")))
            continue
        problem = check_url(url)
        if problem:
            gaps.append(Gap("channel_url_invalid", "error", nodes[0],
                            f"channel {name!r} ({book.where(name)}: {masked_url(url)}) is {problem}"))
    return gaps
