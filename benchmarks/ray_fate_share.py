"""Do Ray's helper processes end when the driver of a local ``ray.init`` is killed (SIGKILL, no ``finally``)?

Starts a driver that calls ``ray.init`` as lstmviz/corpus/rayengine.py does (local instance, ``num_cpus=2``, two
actors), kills it with SIGKILL once its actors answer, then polls every second for up to 120 s and prints when
each helper process (gcs_server, raylet, actors, agents) is gone. Run: ``python benchmarks/ray_fate_share.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time

DRIVER = r"""
import json, os, sys, time
import psutil
import ray
ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
@ray.remote
class A:
    def pid(self):
        return os.getpid()
actors = [A.remote() for _ in range(2)]
pids = ray.get([a.pid.remote() for a in actors])
kids = [p.pid for p in psutil.Process().children(recursive=True)]
print(json.dumps(sorted(set(pids) | set(kids))), flush=True)
time.sleep(600)
"""


def main() -> None:
    import psutil

    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(DRIVER)
    driver = subprocess.Popen([sys.executable, f.name], stdout=subprocess.PIPE, text=True)
    pids = json.loads(driver.stdout.readline())
    names = {p: psutil.Process(p).name() for p in pids if psutil.pid_exists(p)}
    print(f"driver {driver.pid}: {len(names)} helper processes {sorted(set(names.values()))}")
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait()
    killed, left = time.monotonic(), dict(names)
    while left and time.monotonic() - killed < 120:
        time.sleep(1)
        for p in list(left):
            try:
                gone = psutil.Process(p).status() == psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                gone = True
            if gone:
                print(f"{time.monotonic() - killed:5.1f} s after SIGKILL: {left.pop(p)} ({p}) ended")
    print("all ended" if not left else f"still alive after 120 s: {sorted(set(left.values()))}")
    os.unlink(f.name)


if __name__ == "__main__":
    main()
