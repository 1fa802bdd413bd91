"""The same bytes on every x86-64 CPU kind (issue 20, item 4).

A member is trained (energies and forces, float32) in child processes that each see a different
"machine": the CPU kinds this machine can stand for, by capping what ATen, MKL and oneDNN may use
(AVX-512 where present, AVX2, and SSE only). Without a pin the machines give different bytes (so the
test can fail); with the pin (``nnpdistill.cpu_kernels``) every machine that can honour it gives the same
member file, byte for byte. The pin is set by the child the way the CLI does it: before torch runs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nnpdistill.cpu_kernels import LEVEL_VARIABLE, check_pinned, is_x86_64, kernel_env
from nnpdistill.errors import ConfigError

pytestmark = pytest.mark.skipif(not is_x86_64(), reason="the kernel pin is for x86-64 CPUs")

TESTS = Path(__file__).resolve().parent

# What a CPU kind offers, as caps on the three libraries (a cap never raises what the CPU has).
MACHINES = {
    "avx512": {},
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "sse": {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
            "ONEDNN_MAX_CPU_ISA": "SSE41"},
}

CHILD = """
import hashlib, json, sys
level = sys.argv[2]
if level != "none":
    from nnpdistill.cpu_kernels import pin_environment
    pin_environment(level)          # before torch runs anything, as the CLI and the workflow do
import torch
torch.set_num_threads(1)
sys.path.insert(0, sys.argv[1])
from test_nnp_train import SETTINGS, make_frames
from nnpdistill.cpu_kernels import check_pinned
from nnpdistill.nnp.train import TrainSettings, train_member
line = check_pinned(None if level != "none" else "native")
ts = TrainSettings(train_fraction=0.5, max_epochs=12, batch_frames=4, lr=3e-3, force_weight=0.1,
                   early_stop_patience=100, progress_every=0)
out = sys.argv[3]
train_member(make_frames(16, 0), SETTINGS, ts, seed=5, out_dir=out)
from pathlib import Path
digest = hashlib.sha256()
for f in sorted(Path(out).rglob("*")):
    if f.is_file():
        digest.update(f.name.encode()); digest.update(f.read_bytes())
print(json.dumps({"capability": torch.backends.cpu.get_cpu_capability(), "sha256": digest.hexdigest(),
                  "log": line}))
"""


def _machines_here() -> list[str]:
    import torch

    native = torch.backends.cpu.get_cpu_capability()
    return ["avx512", "avx2", "sse"] if native.startswith("AVX512") else ["avx2", "sse"]


def _train(machine: str, level: str, tmp_path: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA",
                        LEVEL_VARIABLE)}
    env.update(MACHINES[machine])
    out = tmp_path / f"{machine}_{level}"
    proc = subprocess.run([sys.executable, "-c", CHILD, str(TESTS), level, str(out)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_unpinned_cpu_kinds_differ_so_the_pin_test_can_fail(tmp_path):
    runs = {m: _train(m, "none", tmp_path) for m in _machines_here()}
    assert len({r["sha256"] for r in runs.values()}) >= 2, runs
    assert runs["sse"]["capability"] == "DEFAULT"


@pytest.mark.parametrize("level", ["avx2", "default"])
def test_pinned_member_is_the_same_bytes_on_every_cpu_kind(level, tmp_path):
    machines = [m for m in _machines_here() if not (level == "avx2" and m == "sse")]  # sse can't honour avx2
    runs = {m: _train(m, level, tmp_path) for m in machines}
    assert {r["capability"] for r in runs.values()} == {level.upper()}, runs
    assert len({r["sha256"] for r in runs.values()}) == 1, runs
    assert f"pinned: cpu_kernels {level}" in runs[machines[0]]["log"]


def test_a_pin_that_did_not_take_is_a_clear_error():
    import torch

    running = torch.backends.cpu.get_cpu_capability()
    other = "default" if running != "DEFAULT" else "avx2"
    with pytest.raises(ConfigError, match=f"pinned to '{other}' but torch runs its {running} kernels"):
        check_pinned(other)
    assert "not pinned" in check_pinned("native")


def test_kernel_env_names_the_three_libraries_and_rejects_unknown_levels():
    env = kernel_env("avx2")
    assert env == {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2,STRICT", "ONEDNN_MAX_CPU_ISA": "AVX2",
                   LEVEL_VARIABLE: "avx2"}
    assert kernel_env("native") == {LEVEL_VARIABLE: "native"}
    with pytest.raises(ConfigError, match="unknown cpu_kernels level 'avx3'.*avx2, default, native"):
        kernel_env("avx3")


def test_schema_cli_and_module_offer_the_same_levels():
    import yaml

    from nnpdistill.cli import build_parser
    from nnpdistill.cpu_kernels import DEFAULT_LEVEL, LEVELS

    schema = yaml.safe_load((TESTS.parent / "workflow" / "schemas" / "config.schema.yaml").read_text())
    prop = schema["properties"]["cpu_kernels"]
    assert tuple(prop["enum"]) == LEVELS and prop["default"] == DEFAULT_LEVEL
    action = next(a for a in build_parser()._actions if a.dest == "cpu_kernels")
    assert tuple(action.choices) == LEVELS and action.default == DEFAULT_LEVEL


def test_the_command_pins_before_torch_runs_and_its_log_says_so(tmp_path):
    """``nnpdistill --cpu-kernels default crystals ...`` in a fresh process: the job runs the pinned
    kernels and its log names them (the workflow's jobs log the same line)."""
    env = {k: v for k, v in os.environ.items() if k not in ("ATEN_CPU_CAPABILITY", LEVEL_VARIABLE)}
    log = tmp_path / "crystals.log"
    proc = subprocess.run([sys.executable, "-m", "nnpdistill.cli", "--cpu-kernels", "default", "crystals",
                           "--element", "Ni", "--out", str(tmp_path / "c.csv"), "--fmax", "1e-2",
                           "--log", str(log)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "CPU kernels: DEFAULT (pinned: cpu_kernels default; MKL_CBWR=COMPATIBLE" in log.read_text()
