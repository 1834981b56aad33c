"""Training speed under OpenMP wait policies: why the CLI sets OMP_WAIT_POLICY=PASSIVE.

One epoch of ResNet-20 on 768 Trifeature images, in a fresh subprocess per setting
(the policy is read when torch loads): torch's default (waiting threads spin), PASSIVE
(waiting threads sleep; what ``kdaudit`` sets unless the user set it), and one thread.
Prints wall and CPU seconds per setting and the ratio to the default side by side, with
the load average: the spin only hurts when other processes compete for the cores.

Run: ``python bench/bench_threads.py``
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

CHILD = r"""
import json, resource, time
import torch
from kdaudit.train.trainer import Recipe, train_model, trifeature_data
data = trifeature_data(n_train=768, n_eval=0, seed=0)
t0 = time.perf_counter(); r0 = resource.getrusage(resource.RUSAGE_SELF)
train_model(data, Recipe(arch="resnet20", epochs=1, batch_size=64, lr=0.05), role="teacher",
            device="cpu")
r1 = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"threads": torch.get_num_threads(), "wall": time.perf_counter() - t0,
                  "cpu": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)}))
"""

SETTINGS = {
    "default (spinning waits)": {},
    "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "OMP_NUM_THREADS=1": {"OMP_NUM_THREADS": "1"},
}


def main() -> None:
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    results = {}
    for name, extra in SETTINGS.items():
        env = {
            k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")
        }
        env.update(extra)
        out = subprocess.run(
            [sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True
        )
        results[name] = json.loads(out.stdout.strip().splitlines()[-1])
    base = results["default (spinning waits)"]
    print(f"{'setting':28s} {'threads':>7s} {'wall s':>8s} {'cpu s':>8s} {'wall / default':>15s}")
    for name, r in results.items():
        print(
            f"{name:28s} {r['threads']:7d} {r['wall']:8.1f} {r['cpu']:8.1f} "
            f"{r['wall'] / base['wall']:15.2f}"
        )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
