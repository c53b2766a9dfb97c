"""The README's commands work exactly as written: every ```sh and ```python block of the
walkthrough runs in order in a fresh folder (the install step is CI's own job and the
test command would recurse, so those two are left out)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"```(sh|python)\n(.*?)```", re.S)
INSTALL = re.compile(r"^pip install [^&]+&&\s*")


def walkthrough_script(text: str, folder: Path) -> str:
    lines = ["set -euo pipefail"]
    for number, (kind, body) in enumerate(BLOCK.findall(text)):
        if kind == "python":
            path = folder / f"block{number}.py"
            path.write_text(body)
            lines.append(f"{sys.executable} {path}")
            continue
        for command in body.strip().splitlines():
            if "pytest" in command:
                continue
            lines.append(INSTALL.sub("", command))
    return "\n".join(lines)


def test_readme_walkthrough_runs(tmp_path):
    text = README.read_text()
    script = walkthrough_script(text, tmp_path)
    assert "ctxmetrics demo acme-demo" in script and "ctxmetrics why" in script and "ctxmetrics digest" in script
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{result.stderr[-2000:]}"
    assert (tmp_path / "acme-demo" / "digest.html").is_file()
    # The outputs the README shows for why and digest are what the commands print
    # (the annotate ones carry the current time, so they are not compared).
    shown = [b for b in re.findall(r"```text\n(.*?)```", text, re.S) if b.startswith(("Leads ", "# ctxmetrics digest"))]
    assert len(shown) == 2
    for block in shown:
        assert block.strip() in result.stdout
