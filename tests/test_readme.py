"""The README's commands are interfaces: CI must run the README's test command verbatim."""

import re

from conftest import REPO


def _bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    test_commands = [b for b in _bash_blocks(readme) if b.endswith("&& pytest")]
    assert len(test_commands) == 1, "README must hold exactly one install-and-test command"
    assert test_commands[0] in ci.splitlines(), ".ci/run must run the README's test command verbatim"


def test_readme_main_job_installs_and_runs_snakemake():
    readme = (REPO / "README.md").read_text()
    main = [b for b in _bash_blocks(readme) if "snakemake --cores all" in b]
    assert main and main[0].startswith("python3 -m venv .venv") and "pip install torch==2.13.0" in main[0]
