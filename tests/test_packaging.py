"""The built wheel: every module of brain/ and mcp_server/, every starter vault file (dot-files
included) as `brain.vault_template`, and `brain init` working from it, not from the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(REPO)],
        check=True, capture_output=True, cwd=out,
    )
    (built,) = out.glob("company_brain-*.whl")
    return built


def _tree(folder: Path, suffix: str = "") -> set[str]:
    return {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.name.endswith(suffix)
    }


def test_the_wheel_holds_every_module_and_every_starter_vault_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    template = {f"brain/vault_template/{rel}" for rel in _tree(REPO / "vault_template")}
    modules = {f"brain/{rel}" for rel in _tree(REPO / "brain", ".py")}
    modules |= {f"mcp_server/{rel}" for rel in _tree(REPO / "mcp_server", ".py")}
    assert {".obsidian/app.json", ".gitignore", "Home.md"} <= {t.split("/", 2)[2] for t in template}
    assert template - names == set()
    assert modules - names == set()


def test_brain_init_from_the_installed_wheel_copies_the_whole_starter_vault(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
        check=True, capture_output=True,
    )
    vault = tmp_path / "vault"
    script = (
        "import brain, sys; from brain.cli import main; "
        "print(brain.__file__, flush=True); sys.exit(main(['init', sys.argv[1]]))"
    )
    # the installed copy, not the checkout: PYTHONPATH first, run from a folder that is not the repository
    env = {**os.environ, "PYTHONPATH": str(site)}
    done = subprocess.run([sys.executable, "-c", script, str(vault)], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == str(site / "brain" / "__init__.py")
    assert _tree(vault) == _tree(REPO / "vault_template")
