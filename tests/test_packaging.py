"""An installed storybot (a wheel, not this checkout) answers the demo question.

The wheel is built from the checkout and installed into a fresh virtualenv; its
dependencies are this environment's, reached through a .pth line, so nothing is
downloaded. Every command runs from an empty folder, so nothing of the checkout
(the prompts folder, the corpus's neighbours) can stand in for what the wheel lacks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run(*args: str | Path, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_wheel_installed_elsewhere_answers_the_demo_question(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STORYBOT_", "OPENAI_"))}
    env["PYTHONPATH"] = ""
    wheels = tmp_path / "wheels"
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-q",
        "-w",
        wheels,
        REPO,
        cwd=tmp_path,
        env=env,
    )
    (wheel,) = wheels.glob("storybot-*.whl")

    target = tmp_path / "venv"
    venv.create(target, with_pip=False)
    python = target / "bin" / "python"
    site = run(
        python,
        "-c",
        "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        cwd=tmp_path,
        env=env,
    ).strip()
    # This environment's packages, but not its editable storybot: a plain path line.
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--no-deps",
        "--no-index",
        "-q",
        wheel,
        cwd=tmp_path,
        env=env,
    )

    work = tmp_path / "elsewhere"
    work.mkdir()
    located = run(
        python,
        "-c",
        "import bot, prompts; print(bot.__file__, prompts.__file__)",
        cwd=work,
        env=env,
    )
    assert str(REPO) not in located and site in located

    storybot = target / "bin" / "storybot"
    run(
        storybot, "index", "--corpus", REPO / "corpus", "--store", work / "store", cwd=work, env=env
    )
    asking = {**env, "STORYBOT_MEMORY": str(work / "memory.sqlite3")}
    question = "When were the groups proscribed?"
    out = run(storybot, "ask", question, "--json", "--store", work / "store", cwd=work, env=asking)
    answer = json.loads(out)
    assert "July 20" in answer["answer"] and answer["citations"]
    # The refusal is read from the packaged prompts too.
    question = "Who won the 1966 World Cup?"
    out = run(storybot, "ask", question, "--json", "--store", work / "store", cwd=work, env=asking)
    assert json.loads(out)["abstained"] is True
