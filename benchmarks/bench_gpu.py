"""The issue-20 GPU ratios, GPU against one CPU core, measured side by side in one run:

1. the distillation loop's training and scoring: a member trained on ``--train-frames`` 32-atom Ni
   frames (energy only, cached descriptors, ``--epochs`` epochs, float32, the shipped network), and a
   ``--members``-member ensemble scoring ``--pool-frames`` 108-atom frames (descriptors computed, as on
   a pool without its AEV cache); target: the two together ≥ 20× faster on the GPU;
2. EAM MD of the sampling stage: ``--walkers`` walkers of 108-atom Ni, MOMT on the q6 order parameter,
   µs per atom-step; the CPU with the C++ kernels (the default), the GPU with the eager torch kernels
   (``nnpdistill.device.OnDevice``); target ≥ 10× faster.

Prints the machine (CPU model, GPU name), the thread count and each figure with its ratio. Without a GPU
it says so and exits 2: there is nothing to compare.

    python benchmarks/bench_gpu.py [--train-frames 1000] [--epochs 20] [--pool-frames 2000] [--steps 100]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

os.environ.setdefault("TORCHANI_NO_WARN_EXTENSIONS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from ase.build import bulk  # noqa: E402

from nnpdistill.io_utils import set_torch_threads  # noqa: E402
from nnpdistill.md.run import potential_from_eam  # noqa: E402
from nnpdistill.nnp.builder import NNPSettings, build_model  # noqa: E402
from nnpdistill.nnp.predict import predict_pool  # noqa: E402
from nnpdistill.nnp.train import TrainSettings, train_member  # noqa: E402
from nnpdistill.potentials import load_eam  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from bench_md import bench  # noqa: E402 - the sampling stage's MD timing, shared


def labelled(n: int, rep: int, seed: int = 0) -> dict:
    """``n`` rattled and strained FCC Ni frames of 4 rep³ atoms labelled by the EAM (batched)."""
    rng = np.random.default_rng(seed)
    base = bulk("Ni", "fcc", a=3.52, cubic=True).repeat((rep,) * 3)
    scale = 1 + rng.uniform(-0.03, 0.03, n)
    pos = np.array([base.positions * s + rng.normal(0, 0.1, base.positions.shape) for s in scale])
    cell = np.array([base.cell[:] * s for s in scale])
    res = load_eam("Ni").evaluator(skin_A=0.0)(torch.from_numpy(pos), torch.from_numpy(cell))
    return {"numbers": np.full(pos.shape[:2], 28), "positions": pos, "cell": cell,
            "energy": res.energy.numpy(), "forces": res.forces.numpy(), "energies": res.energies.numpy()}


def loop_seconds(device: str, train: dict, pool: dict, epochs: int, members: int) -> tuple[float, float]:
    ts = TrainSettings(train_fraction=0.8, max_epochs=epochs, early_stop_patience=epochs + 1,
                       progress_every=0)
    t0 = time.perf_counter()
    train_member(train, NNPSettings(element="Ni"), ts, seed=0, device=device)
    t_train = time.perf_counter() - t0
    model = build_model(NNPSettings(element="Ni"), n_members=members, seed=0)
    t0 = time.perf_counter()
    predict_pool(model, pool, progress=False, device=device)
    return t_train, time.perf_counter() - t0


def md_seconds(device: str, walkers: int, steps: int) -> float:
    """Seconds per MOMT (q6) step of the whole batch of 108-atom Ni walkers."""
    os.environ["NNPDISTILL_EAM_KERNEL"] = "auto"  # cpp on the CPU, torch on the GPU
    return bench(potential_from_eam("Ni", device=device), 108, walkers, steps, "q6_bonds")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-frames", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--pool-frames", type=int, default=2000)
    ap.add_argument("--members", type=int, default=5)
    ap.add_argument("--walkers", type=int, default=16)
    ap.add_argument("--steps", type=int, default=100)
    args = ap.parse_args()
    set_torch_threads(1)
    cpu_name = platform.processor()
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as fh:
            names = [ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")]
        cpu_name = names[0] if names else cpu_name
    print(f"CPU: {cpu_name}, 1 torch thread; torch {torch.__version__}, CUDA build {torch.version.cuda}")
    if not torch.cuda.is_available():
        print("no GPU: torch.cuda.is_available() is False, so there is nothing to compare; run this on a "
              "GPU node with a CUDA build of torch", file=sys.stderr)
        return 2
    print(f"GPU: {torch.cuda.get_device_name(0)}")
    train, pool = labelled(args.train_frames, 2), labelled(args.pool_frames, 3, seed=1)
    rows = {}
    for device in ("cpu", "cuda"):
        rows[device] = (*loop_seconds(device, train, pool, args.epochs, args.members),
                        md_seconds(device, args.walkers, args.steps))
    (ct, cp, cm), (gt, gp, gm) = rows["cpu"], rows["cuda"]
    print(f"{'':44} {'CPU (1 core)':>13} {'GPU':>10} {'ratio':>7}")
    print(f"{'training, ' + str(args.epochs) + ' epochs (s)':44} {ct:>13.2f} {gt:>10.2f} {ct / gt:>7.1f}")
    print(f"{'scoring ' + str(args.pool_frames) + ' x 108 atoms, ' + str(args.members) + ' members (s)':44} "
          f"{cp:>13.2f} {gp:>10.2f} {cp / gp:>7.1f}")
    print(f"{'the loop: training + scoring (s), target >= 20x':44} {ct + cp:>13.2f} {gt + gp:>10.2f} "
          f"{(ct + cp) / (gt + gp):>7.1f}")
    atoms = 108 * args.walkers
    print(f"{'MOMT q6, ' + str(args.walkers) + ' x 108 atoms (us/atom-step), >= 10x':44} "
          f"{cm / atoms * 1e6:>13.2f} {gm / atoms * 1e6:>10.2f} {cm / gm:>7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
