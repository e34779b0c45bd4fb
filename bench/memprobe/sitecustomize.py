"""Loaded by every Python process started with this folder on PYTHONPATH (see bench/memprobe.py).

With FC_MEMPROBE_OUT=DIR set: starts tracemalloc (1 frame), snapshots the Python heap whenever
it has grown 5% past the largest snapshot so far (checked every FC_MEMPROBE_EVERY seconds, 2),
and at exit writes DIR/<pid>.txt: the command, the traced peak, the process's VmHWM, and the
top allocation sites (file:line) of the largest snapshot and of the heap at exit.
Diagnostic only: tracemalloc slows a process down and adds its own memory.
"""
import os

if os.environ.get("FC_MEMPROBE_OUT"):
    import atexit
    import sys
    import threading
    import time
    import tracemalloc

    tracemalloc.start(1)
    _best = {"size": 0, "snap": None, "t": None}
    _base = {"snap": None, "t": None}  # the first snapshot after FC_MEMPROBE_BASE s (5): growth is measured from it
    _t0 = time.monotonic()

    def _watch():
        every = float(os.environ.get("FC_MEMPROBE_EVERY", "2"))
        while True:
            time.sleep(every)
            cur, _ = tracemalloc.get_traced_memory()
            if _base["snap"] is None and time.monotonic() - _t0 >= float(os.environ.get("FC_MEMPROBE_BASE", "5")):
                _base.update(snap=tracemalloc.take_snapshot(), t=time.monotonic() - _t0)
            if cur > _best["size"] * 1.05:
                snap = tracemalloc.take_snapshot()
                _best.update(size=cur, snap=snap, t=time.monotonic() - _t0)

    threading.Thread(target=_watch, daemon=True, name="memprobe").start()

    def _hwm():
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith(("VmHWM", "VmRSS")):
                        yield line.split(":")[0], int(line.split()[1]) // 1024
        except OSError:
            return

    _skip = [tracemalloc.Filter(False, tracemalloc.__file__), tracemalloc.Filter(False, __file__)]

    def _where(fr):
        import linecache
        return f"{fr.filename}:{fr.lineno}  {linecache.getline(fr.filename, fr.lineno).strip()[:90]}"

    def _top(snap, n=25):
        stats = snap.filter_traces(_skip).statistics("lineno")
        total = sum(s.size for s in stats)
        lines = [f"  total {total / 2**20:.1f} MiB in {sum(s.count for s in stats):,} blocks"]
        for s in stats[:n]:
            lines.append(f"  {s.size / 2**20:8.1f} MiB {s.count:>10,}  {_where(s.traceback[0])}")
        return "\n".join(lines)

    def _growth(snap, base, n=20):
        diffs = snap.filter_traces(_skip).compare_to(base.filter_traces(_skip), "lineno")
        total = sum(d.size_diff for d in diffs)
        lines = [f"  total {total / 2**20:+.1f} MiB"]
        for d in diffs[:n]:
            lines.append(f"  {d.size_diff / 2**20:+8.1f} MiB {d.count_diff:>+10,}  {_where(d.traceback[0])}")
        return "\n".join(lines)

    @atexit.register
    def _dump():
        try:
            cur, peak = tracemalloc.get_traced_memory()
            out = [" ".join(sys.orig_argv if hasattr(sys, "orig_argv") else sys.argv),
                   f"traced now {cur / 2**20:.1f} MiB, traced peak {peak / 2**20:.1f} MiB, "
                   + ", ".join(f"{k} {v} MiB" for k, v in _hwm()) + f", ran {time.monotonic() - _t0:.0f} s"]
            if _best["snap"] is not None:
                out.append(f"largest snapshot ({_best['size'] / 2**20:.1f} MiB traced, at {_best['t']:.0f} s):")
                out.append(_top(_best["snap"]))
                if _base["snap"] is not None and _base["t"] < _best["t"]:
                    out.append(f"growth from {_base['t']:.0f} s to the largest snapshot:")
                    out.append(_growth(_best["snap"], _base["snap"]))
            out.append("at exit:")
            out.append(_top(tracemalloc.take_snapshot()))
            path = os.path.join(os.environ["FC_MEMPROBE_OUT"], f"{os.getpid()}.txt")
            with open(path, "w") as f:
                f.write("\n".join(out) + "\n")
        except Exception as exc:  # never break the process being probed
            sys.stderr.write(f"memprobe: {exc!r}\n")
