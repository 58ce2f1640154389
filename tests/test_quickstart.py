"""The README's quick start, followed as a newcomer follows it (issue 17): a fresh clone of this
working tree, `python3 run.py demo` there (a new .venv, the package installed from the registry),
then every next step exactly as the README writes it, from the folder it says (the repository).

The README marks what this test runs; each mark stands before a fenced block:

- `<!-- quickstart -->`: a shell block, each line run with bash from the clone's root, with HOME a
  new folder (so `~/CompanyBrain` is this test's). Every line must exit 0 and say nothing ambiguous.
- `<!-- quickstart-file NAME -->`: the block's text, saved as NAME in the clone's root (the README
  says to save it) before the blocks after it run.
- `<!-- quickstart-mcp -->`: the client configuration and the `claude mcp add` line. With `/ABS/PATH`
  as the clone, both must start the same server, and that server must answer an MCP client.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[1]
PLACEHOLDER = "/ABS/PATH"
_BLOCK = re.compile(r"^<!-- (quickstart(?:-file|-mcp)?)\s*(\S*) -->\n```(\w*)\n(.*?)^```", re.M | re.S)


def _marked_blocks(readme: str) -> list[tuple[str, str, str, str]]:
    """(mark, argument, language, text) of every marked fenced block, in reading order."""
    return [m.groups() for m in _BLOCK.finditer(readme)]


def _run(cmd: str, cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", cmd], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def _clone_working_tree(dest: Path) -> Path:
    """A clone of this repository holding its working tree as it is now (HEAD plus uncommitted edits
    and new files that git does not ignore): on CI, a fresh clone of main, the same thing."""
    subprocess.run(["git", "clone", "--quiet", "--local", "--no-hardlinks", str(REPO), str(dest)],
                   check=True, capture_output=True, text=True)
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, check=True, capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src, dst = REPO / rel, dest / rel
        if src.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        elif dst.is_file() and not src.exists():  # deleted in the working tree
            dst.unlink()
    return dest


def _newcomer_env(home: Path | None) -> dict[str, str]:
    """This process's environment without a virtualenv or brain settings of its own; HOME as given."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "BRAIN_VAULT", "BRAIN_STORE")}
    venv_bin = os.environ.get("VIRTUAL_ENV")
    if venv_bin:
        env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                      if Path(p) != Path(venv_bin) / "bin")
    if home is not None:
        env["HOME"] = str(home)
    return env


async def _ask_server(command: str, args: list[str], cwd: Path) -> tuple[set[str], dict]:
    async with Client(StdioServerParameters(command=command, args=args, cwd=str(cwd))) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        board = await client.call_tool("cost_leaderboard", {"group_by": "agent", "days": 30})
        assert not board.is_error, board.content
        return tools, board.structured_content


def test_the_readme_quick_start_works_from_a_fresh_clone(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed: the quick start is tested from a git clone of the repository")
    if not (REPO / ".git").exists():
        pytest.skip(f"{REPO} is not a git checkout (no .git): nothing to clone")
    clone = _clone_working_tree(tmp_path / "company-brain")
    readme = (clone / "README.md").read_text(encoding="utf-8")

    # 1. The first of the two commands, as the README writes it.
    demo = re.search(r"^```sh\n(python3 run\.py demo)\n```", readme, re.M)
    assert demo, "the README no longer shows `python3 run.py demo` in a block of its own"
    done = _run(demo.group(1), clone, _newcomer_env(None), timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (clone / "demo-vault" / ".obsidian").is_dir()

    # 2. Every next step the README marks, in its order, from the repository folder.
    blocks = _marked_blocks(readme)
    kinds = [b[0] for b in blocks]
    assert kinds.count("quickstart") >= 2 and "quickstart-file" in kinds and kinds.count("quickstart-mcp") == 2, kinds
    home = tmp_path / "home"
    home.mkdir()
    env = _newcomer_env(home)
    outputs: dict[str, str] = {}
    mcp_blocks: list[tuple[str, str]] = []
    for mark, arg, lang, text in blocks:
        if mark == "quickstart-file":
            assert arg, "a quickstart-file mark names the file to save"
            (clone / arg).write_text(text, encoding="utf-8")
        elif mark == "quickstart-mcp":
            mcp_blocks.append((lang, text))
        else:
            assert lang == "sh", (mark, lang)
            for line in filter(None, (ln.strip() for ln in text.splitlines())):
                step = _run(line, clone, env, timeout=300)
                said = step.stdout + step.stderr
                assert step.returncode == 0, f"`{line}` exited {step.returncode}:\n{said[-3000:]}"
                assert "ambiguous" not in said.lower(), f"`{line}`:\n{said[-3000:]}"
                outputs[line] = step.stdout

    # What the README says the steps lead to: the dashboard to open, the ingested row as spend.
    dashboard = re.search(r"start at `(Brain/[^`]+\.md)`", readme)
    assert dashboard and (clone / "demo-vault" / dashboard.group(1)).is_file(), dashboard
    spend = next(out for line, out in outputs.items() if re.search(r"\bbrain spend\b", line))
    assert "Support Agent" in spend, spend

    # 3. The MCP client set-up: the JSON configuration and the `claude mcp add` line start the same
    # server, and it answers from the demo vault (run from elsewhere: desktop apps do not start here).
    (json_lang, json_text), (sh_lang, claude_line) = mcp_blocks
    assert (json_lang, sh_lang) == ("json", "sh")
    server = json.loads(json_text.replace(PLACEHOLDER, str(clone)))["mcpServers"]["company-brain"]
    words = shlex.split(claude_line.replace(PLACEHOLDER, str(clone)))
    assert words[:4] == ["claude", "mcp", "add", "company-brain"] and "--" in words, words
    assert words[words.index("--") + 1 :] == [server["command"], *server["args"]]
    tools, board = anyio.run(_ask_server, server["command"], server["args"], tmp_path)
    assert {"cost_leaderboard", "get_node"} <= tools
    assert board["rows"], board
