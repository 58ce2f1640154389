#!/usr/bin/env python3
"""Set up and run Company Brain with nothing but python3: `python3 run.py demo` or `python3 run.py test`."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
REFERENCE_DOCS = ("docs/cli.md", "docs/mcp.md", "docs/internals.md", "README.md")  # parts written by cog from the code
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def sh(*cmd: str) -> None:
    """Run a command from the repo root; stop with its exit code on failure."""
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    rc = subprocess.call(cmd, cwd=ROOT)
    if rc:
        sys.exit(rc)


def setup(extras: str = "") -> None:
    """Create .venv and install the project, with `extras` (e.g. "test"); again only after
    pyproject.toml changes. pip shows its own progress: the first run downloads for a minute."""
    if not (BIN / "python").exists():
        print(f"Creating {VENV.relative_to(ROOT)} ...", file=sys.stderr, flush=True)
        venv.create(VENV, with_pip=True)
    stamp = VENV / (f".installed-{extras}" if extras else ".installed")
    if not stamp.exists() or stamp.stat().st_mtime < (ROOT / "pyproject.toml").stat().st_mtime:
        print(f"Installing company-brain{f' with its {extras} tools' if extras else ''} into .venv ...",
              file=sys.stderr, flush=True)
        sh(str(BIN / "python"), "-m", "pip", "install", "-q", "--upgrade", "pip")
        sh(str(BIN / "python"), "-m", "pip", "install", "--progress-bar", "on", "-e", f".[{extras}]" if extras else ".")
        stamp.touch()


def java_works() -> bool:
    """Whether a Java runtime answers `java -version` (PySpark's JVM; tests/lake/test_spark.py)."""
    try:
        return subprocess.run(["java", "-version"], capture_output=True, timeout=120).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def ensure_java(pytest_args: list[str]) -> None:
    """Give a fresh machine the Java runtime the Spark tests need: openjdk-17-jre-headless from apt-get
    when run as root with apt. Otherwise (or when it fails) those tests skip, saying how to enable them.
    Nothing to do when the run deselects them (-m "not e2e") or Java is there."""
    if "not e2e" in " ".join(pytest_args) or java_works():
        return
    if os.name != "posix" or os.geteuid() != 0 or not Path("/usr/bin/apt-get").exists():
        print("Java not found: the Spark tests will be skipped (install a Java 17+ runtime, e.g. "
              "`apt-get install openjdk-17-jre-headless`, to run them)", file=sys.stderr, flush=True)
        return
    print("Installing a Java runtime for the Spark tests (openjdk-17-jre-headless) ...", file=sys.stderr, flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "--no-install-recommends", "openjdk-17-jre-headless"]):
        if subprocess.call(cmd, env=env, stdout=subprocess.DEVNULL) != 0:
            print(f"`{' '.join(cmd)}` failed: the Spark tests will be skipped", file=sys.stderr, flush=True)
            return


def main() -> None:
    """Dispatch: demo (default) or test (ruff, mypy, import contracts, generated docs, pytest);
    extra arguments go to brain demo / pytest."""
    what = sys.argv[1] if len(sys.argv) > 1 else "demo"
    rest = sys.argv[2:]
    setup("test" if what in ("test", "setup") else "")  # the demo needs only the package itself
    if what == "demo":
        sh(str(BIN / "brain"), "demo", *rest)
    elif what == "test":
        sh(str(BIN / "ruff"), "check", "brain", "mcp_server", "tests", "docs", "run.py")
        sh(str(BIN / "mypy"))
        sh(str(BIN / "lint-imports"))  # imports run one way (pyproject's [tool.importlinter])
        sh(str(BIN / "cog"), "--check", *REFERENCE_DOCS)  # generated docs match the code
        ensure_java(rest)
        sh(str(BIN / "python"), "-m", "pytest", *rest)
    elif what == "setup":
        pass
    else:
        sys.exit(f"usage: python3 run.py [demo|test|setup] [args...]; unknown {what!r}")


if __name__ == "__main__":
    main()
