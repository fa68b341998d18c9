"""Run a Python entry point and print this process's peak RSS at exit: `peak.py module-or-script args...`."""

import atexit
import runpy
import sys


def _report() -> None:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                print(f"PEAK_RSS_MB={int(line.split()[1]) / 1024:.1f}", flush=True)


atexit.register(_report)
target, sys.argv = sys.argv[1], sys.argv[1:]
if target.endswith(".py"):
    runpy.run_path(target, run_name="__main__")
else:
    runpy.run_module(target, run_name="__main__", alter_sys=True)
