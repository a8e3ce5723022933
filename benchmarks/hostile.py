"""A hostile sweep of the optsuite command: bad inputs, damaged stores, kills, reads during a write, a full disk,
and interrupted reports and exports; it prints the count that behaved per section and one line per case that did not.

    .venv/bin/python -m optsuite.benchmarks.hostile [inputs damage kills reads disk outputs]

What behaving means, per section: a bad input exits 2 with one line on stderr and writes nothing; a damaged store is
refused on one line by run --dry-run, run, report and export, and left as it was; a killed driver (SIGKILL, SIGTERM,
during tuning, a NoProp network) or worker leaves no process behind within 1.3 s and the resumed store equals an
uninterrupted run; a reader during a write sees trace rows that add up to each cell's; a full disk is one line that
says rerunning resumes, leaves no temporary file, and the rerun equals an uninterrupted run; a killed report or export
leaves the old output, the new one, or whole files without an index. The disk section mounts small tmpfs folders
(root only) and the unreadable data_root case drops root's override capabilities with setpriv. Everything is written
under a new temporary folder, named at the end. Takes about 35 min on 2 CPU cores.
"""
import gzip
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

from optsuite.store import CELLS, MANIFEST, sha256

PY = sys.executable
SECTIONS = sys.argv[1:] or ["inputs", "damage", "kills", "reads", "disk", "outputs"]
WORK = Path(tempfile.mkdtemp(prefix="optsuite-hostile-"))
CLI = [PY, "-m", "optsuite.cli"]
random.seed(0)


def cli(args, cwd=WORK, timeout=600, prefix=()):
    return subprocess.run([*prefix, *CLI, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def one_line(done):
    """Exit 2 and exactly one line on stderr, an error and no traceback."""
    err = done.stderr.strip()
    return done.returncode == 2 and len(err.splitlines()) == 1 and err.startswith("error:") and "Traceback" not in err


def report(section, good, total, bad):
    print(f"== {section}: {good}/{total}")
    for line in bad:
        print("   BAD", line)
    sys.stdout.flush()


# -- fixtures ----------------------------------------------------------------------------------------------
def write_mnist(folder, labels=None, gz=False):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = [rng.integers(0, 256, (30, 4, 4)), np.arange(30) % 10 if labels is None else labels,
              rng.integers(0, 256, (10, 4, 4)), np.arange(10) % 10]
    names = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    for name, a in zip(names, arrays):
        data = bytes([0, 0, 8, a.ndim]) + np.asarray(a.shape, ">u4").tobytes() + np.asarray(a).astype(np.uint8).tobytes()
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return folder


def toml(name, text):
    path = WORK / "specs" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return str(path)


BASE = '[[problems]]\nname = "sphere"\n[[optimizers]]\nname = "gd"\n'


def setup_inputs():
    d = WORK / "data"
    write_mnist(d / "ok")
    write_mnist(d / "labels", labels=50 + np.arange(30) * 6)
    corrupt = write_mnist(d / "gz", gz=True) / "train-images-idx3-ubyte.gz"
    data = bytearray(corrupt.read_bytes())
    data[12:40] = bytes(28)
    corrupt.write_bytes(bytes(data))
    write_mnist(d / "locked")
    (d / "locked").chmod(0)
    (d / "file").write_text("x")
    (WORK / "bad.py").write_text("raise KeyError('x')\n")
    (WORK / "exits.py").write_text("import sys\nsys.exit(3)\n")
    store = WORK / "store"
    done = cli(["run", "-p", "sphere(dim=3)", "-o", "gd", "-o", "montecarlo", "-s", "2", "-b", "steps=5", "--out",
                str(store), "-q"])
    assert done.returncode == 0, done.stderr
    return d, store


def bad_inputs(d, store):
    ND = ["-p", "noprop-dt(T=2,hidden=8)", "-s", "1", "-b", "sample_forwards=6e4"]
    S = ["-p", "sphere(dim=3)", "-s", "1", "-b", "steps=3"]
    mn = lambda root: f"least-squares(dataset=mnist,data_root={root})"
    cases = [
        # names
        ["run", "-p", "spher", "-o", "gd", "--dry-run"], ["run", "-p", "sphere", "-o", "snez", "--dry-run"],
        ["run", "-p", "sphere", "-o", "nevergrad:NoSuch", "--dry-run"], ["list", "snez"], ["list", "x" * 300],
        ["run", "no-such-matrix"], ["run", "default", "-p", "sphere"], ["bench", "--kernel", "nosuch", "--small"],
        ["bench", "--precision", "fp64", "--small"], ["bench", "--device", "tpu", "--small"],
        # budgets
        *[["run", *S[:3], "-o", "gd", "-b", b, "--dry-run"] for b in
          ["evaluations=-5", "steps=0", "seconds=nan", "flops=inf", "steps=0.5", "evaluations=2000.7",
           "peak_memory_bytes=1.5", "furlongs=3", "steps", "steps=many", "sample_forwards=1e999"]],
        ["run", *S[:3], "-o", "gd", "-b", "evaluations=2000", "-b", "evaluations=3000", "--dry-run"],
        # problem settings
        *[["run", "-p", p, "-o", "gd", "--dry-run"] for p in
          ["sphere(dim=0)", "sphere(dim=-1)", "sphere(dim=ten)", "sphere(dim=10,dim=20)", "sphere(colour=3)",
           "sphere(dim=nan)", "sphere(dim=1e999)", "sphere(dim=10", "sphere(dim=[1,2)", "least-squares(ridge=-1)",
           "least-squares(batch_size=0)", "noprop-dt(T=0)", "noprop-dt(T=100000,hidden=8)", "noprop-dt(block=nosuch)",
           "noprop-dt(embedding=nosuch)", "noprop-dt(data_seed=-1)", "noprop-dt(data_seed=2**40)",
           "noprop-dt(dataset=nosuch)", "noprop-dt(dataset=mnist)", "noprop-block(t=5,T=2)", "noprop-dt(block=cnn,dataset=mnist1d)",
           "noprop-dt(dtype=float16)", "noprop-dt(device=cuda:7)", "noprop-dt(eta=-1)", "noprop-dt(hidden=0)",
           mn(d / "nowhere"), mn(d / "file"), mn(d / "gz"), mn(d / "labels"), f"least-squares(data_root={d})",
           "least-squares(test_fraction=1.5)"]],
        # optimizers
        *[["run", *S[:3], "-o", o, "--dry-run"] for o in
          ["gd(lr=-1)", "gd(lr=nan)", "gd(lr=1e999)", "gd(lrr=1)", "gd(lr=fast)", "gd(algorithm=nosuch)",
           "montecarlo(population=1000000000)", "snes(population=0)", "cma(sigma0=-1)", "cma(restarts=nosuch)",
           "beam(sigma0=[0.1,0.2])", "cma + head: analytic"]],
        # part overrides
        *[["run", *ND, "-o", o, "--dry-run"] for o in
          ["cma + head: analytic + head: gd", "cma + head: gd(lr=1e999)", "cma + head: nosuch",
           "cma + head: gd(lrr=1)", "cma + head: gd(lr=fast)", "cma + tail: gd", "cma + head analytic",
           "cma + head: gd(lr=-1)", "cma + block 1: analytic"]],
        # run flags
        *[["run", *S, "-o", "gd", *f, "--dry-run"] for f in
          [["-j", "0"], ["--time-limit", "0"], ["--time-limit", "nan"], ["--time-limit", "inf"], ["--time-limit", "-1"],
           ["--gpu-slots", "0"], ["--batch-runs", "0"], ["--backend", "mpi"], ["--scheduler", "tcp://x:1"],
           ["--jobs", "two"], ["--nope"]]],
        ["run", "-p", "sphere", "-o", "gd", "-s", "0"],
        ["run", "-p", "sphere", "-o", "gd", "-s", "-1"],
        ["run", *S, "-o", "gd", "--out", "", "-q"], ["run", *S, "-o", "gd", "--out", str(d / "file"), "-q"],
        ["run", *S, "-o", "gd", "--out", str(d / "file" / "x"), "-q"],
        ["run", *S, "-o", "gd", "--out", str(WORK / "new" / ("x" * 300)), "-q"],
        # noprop
        *[["noprop", *a, "-q", "--out", str(WORK / "np")] for a in
          [["--set", "T=0"], ["--set", "T=100000"], ["--set", "nosuch=1"], ["--set", "T=2", "--set", "T=3"],
           ["-j", "0", "--set", "T=2"], ["-o", "nosuch", "--set", "T=2"], ["--set", "T"], ["-b", "steps=-1"],
           ["-o", "beam(beam=100000000)", "--set", "T=2"], ["-s", "0", "--set", "T=2"]]],
        # matrices
        *[["run", toml(f"m{i}.toml", text), "--dry-run"] for i, text in enumerate([
            "name = [", 'nme = "x"\n' + BASE, 'name = "."\n' + BASE, 'name = ".."\n' + BASE, f'name = "{"n" * 300}"\n' + BASE,
            'name = "a/b"\n' + BASE, "seeds = 0\n" + BASE, "seeds = [1, 1]\n" + BASE, 'seeds = "x"\n' + BASE,
            "budgets = { steps = -1 }\n" + BASE, "budgets = [{ steps = 2.5 }]\n" + BASE,
            "budgets = [{ steps = 3 }, { steps = 3 }]\n" + BASE, "[run]\njobs = 0\n" + BASE,
            "[run]\ntime_limit = nan\n" + BASE, "[run]\nnope = 1\n" + BASE, "tuning = { seeds = [0] }\n" + BASE,
            "tuning = { fraction = 0 }\n" + BASE, 'unsupported = "maybe"\n' + BASE, 'imports = ["nowhere.py"]\n' + BASE,
            f'imports = ["{WORK / "bad.py"}"]\n' + BASE, f'imports = ["{WORK / "exits.py"}"]\n' + BASE,
            '[[problems]]\nname = "sphere"\n', '[[problems]]\nname = "sphere"\ngrid = { dim = [] }\n[[optimizers]]\nname = "gd"\n',
            '[[problems]]\nname = "sphere"\ngrid = { dim = [3, 3] }\n[[optimizers]]\nname = "gd"\n',
            '[[problems]]\nname = "sphere"\nsettings = { dim = 3 }\ngrid = { dim = [4] }\n[[optimizers]]\nname = "gd"\n',
            '[[problems]]\nname = "sphere"\n[[optimizers]]\nname = "gd"\n[[optimizers]]\nname = "gd"\n',
            '[[problems]]\nname = "noprop-dt"\nsettings = { T = 2 }\n[[optimizers]]\nname = "cma"\nparts = { head = "nosuch" }\n',
            '[[problems]]\nname = "noprop-dt"\nsettings = { T = 2 }\n[[optimizers]]\nname = "cma"\nparts = { head = "gd(lr=1e999)" }\n',
            '[[problems]]\nname = "noprop-dt"\nsettings = { T = 2 }\n[[optimizers]]\nname = "cma"\nparts = { head = 3 }\n',
            '[[problems]]\nname = "sphere"\noptimizers = ["snes"]\n[[optimizers]]\nname = "gd"\n',
            '[[problems]]\nname = "sphere"\n[[optimizers]]\nname = "gd"\ntune = { lr = [0.1] }\nhyper = { lr = 0.2 }\n',
            '[[problems]]\nname = "sphere"\nsettings = { dim = inf }\n[[optimizers]]\nname = "gd"\n',
        ])],
        # report and export
        ["report", str(WORK / "nowhere")], ["report", str(d)], ["report", str(store), "--baseline", "adamw"],
        ["report", str(store), "--reference", "nosuch"], ["report", str(store), "--out", str(d / "file")],
        ["report", str(store), "--out", ""], ["report", str(store), "--out", "new-report", "--baseline", "x"],
        ["report", str(store), "--out", "new-report", "--reference", "x"],
        ["export", str(store), "--format", "xlsx", "--out", "new-export"],
        ["export", str(store), "--format", "csv", "--cost", "flops", "--out", "new-export"],
        ["export", str(store), "--format", "coco", "--reference", "nosuch", "--out", "new-export"],
        ["export", str(store), "--format", "coco", "--out", ""], ["export", str(WORK / "nowhere"), "--format", "csv",
                                                                  "--out", "new-export"],
        ["export", str(store), "--format", "csv", "--out", str(d / "file")],
    ]
    good, bad = 0, []
    for args in cases:
        cwd = Path(tempfile.mkdtemp(dir=WORK))
        done = cli(args, cwd=cwd, timeout=300)
        left = list(cwd.iterdir())
        if one_line(done) and not left:
            good += 1
        else:
            bad.append(f"{args}: rc {done.returncode}, {done.stderr.strip()[-300:]!r}, left {[p.name for p in left]}")
    # an unreadable data_root, without root's override capabilities
    done = cli(["run", "-p", mn(d / "locked"), "-o", "gd", "--dry-run"],
               prefix=["setpriv", "--bounding-set", "-dac_override,-dac_read_search"])
    good += one_line(done)
    if not one_line(done):
        bad.append(f"locked data_root: {done.stderr.strip()[-300:]!r}")
    (d / "locked").chmod(0o755)
    return good, len(cases) + 1, bad


# -- damaged stores -----------------------------------------------------------------------------------------
def edit_manifest(p, edit):
    m = json.loads((p / M).read_text())
    edit(m)
    (p / M).write_text(json.dumps(m))


def rewrite(p, name, frame):
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    (p / name).write_bytes(buf.getvalue())
    edit_manifest(p, lambda m: m["files"].update({name: [{"sha256": sha256(buf.getvalue()), "rows": len(frame)}]}))


def flip(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def folder(path):
    path.unlink()
    path.mkdir()


C, M = CELLS, MANIFEST


def part(p, last=False):
    """The name of the store's first (or last) trace part as its manifest lists them (a run ends with one)."""
    names = sorted(n for n in json.loads((p / M).read_text())["files"] if n.startswith("traces-"))
    return names[-1 if last else 0]


DAMAGES = {
    "cells flipped": lambda p: flip(p / C), "part flipped": lambda p: flip(p / part(p)),
    "part truncated": lambda p: (p / part(p)).write_bytes((p / part(p)).read_bytes()[:100]),
    "cells truncated": lambda p: (p / C).write_bytes((p / C).read_bytes()[:50]),
    "part deleted": lambda p: (p / part(p)).unlink(), "cells deleted": lambda p: (p / C).unlink(),
    "manifest deleted": lambda p: (p / M).unlink(), "manifest not json": lambda p: (p / M).write_text("{x"),
    "manifest empty": lambda p: (p / M).write_text(""), "manifest a list": lambda p: (p / M).write_text("[]"),
    "manifest format 99": lambda p: edit_manifest(p, lambda m: m.update(format=99)),
    "manifest without format": lambda p: edit_manifest(p, lambda m: m.pop("format")),
    "manifest files a list": lambda p: edit_manifest(p, lambda m: m.update(files=[])),
    "a part left out of the manifest": lambda p: edit_manifest(p, lambda m: m["files"].pop(part(p, last=True))),
    "cells left out of the manifest": lambda p: edit_manifest(p, lambda m: m["files"].pop(C)),
    "rows edited": lambda p: edit_manifest(p, lambda m: m["files"][C][0].update(rows=99)),
    "sha edited": lambda p: edit_manifest(p, lambda m: m["files"][part(p)][0].update(sha256="0" * 64)),
    "cells a folder": lambda p: folder(p / C), "manifest a folder": lambda p: folder(p / M),
    "part a folder": lambda p: folder(p / part(p)),
    "cells without status": lambda p: rewrite(p, C, pd.read_parquet(p / C).drop(columns="status")),
    "cells without run_id": lambda p: rewrite(p, C, pd.read_parquet(p / C).drop(columns="run_id")),
    "cells without cell_id": lambda p: rewrite(p, C, pd.read_parquet(p / C).drop(columns="cell_id")),
    "cells without trace_rows": lambda p: rewrite(p, C, pd.read_parquet(p / C).drop(columns="trace_rows")),
    "trace_rows edited": lambda p: rewrite(p, C, pd.read_parquet(p / C).assign(trace_rows=1)),
    "part rows dropped": lambda p: rewrite(p, part(p), pd.read_parquet(p / part(p)).iloc[:2]),
    "part emptied": lambda p: rewrite(p, part(p), pd.read_parquet(p / part(p)).iloc[:0]),
    "cells of another store": lambda p: rewrite(p, C, pd.read_parquet(p / C).assign(run_id="x" * 16)),
}


def damaged_stores():
    base = WORK / "damage-base"
    for extra in ([], ["--add"]):  # two runs (each ends compacting its store into one trace part)
        seeds = "2" if not extra else "3"
        done = cli(["run", "-p", "sphere(dim=3)", "-o", "gd", "-o", "montecarlo", "-s", seeds, "-b", "steps=5", "--out",
                    str(base), "-q", *extra])
        assert done.returncode == 0, done.stderr
    good, bad = 0, []
    for name, damage in DAMAGES.items():
        store = WORK / "damaged" / name.replace(" ", "-")
        shutil.copytree(base, store)
        damage(store)
        before = {p.name: (p.read_bytes() if p.is_file() else None) for p in store.iterdir()}
        refused = []
        for args in (["run", "-p", "sphere(dim=3)", "-o", "gd", "-o", "montecarlo", "-s", "3", "-b", "steps=5",
                      "--out", str(store), "--dry-run"],
                     ["run", "-p", "sphere(dim=3)", "-o", "gd", "-o", "montecarlo", "-s", "3", "-b", "steps=5",
                      "--out", str(store), "-q"],
                     ["report", str(store)], ["export", str(store), "--format", "csv", "--out", str(store) + "-csv"]):
            done = cli(args)
            refused.append(one_line(done))
            if not one_line(done):
                bad.append(f"{name}: {args[0]}: rc {done.returncode} {done.stderr.strip()[-200:]!r}")
        after = {p.name: (p.read_bytes() if p.is_file() else None) for p in store.iterdir()}
        unchanged = {k: v for k, v in after.items() if k != ".lock"} == {k: v for k, v in before.items() if k != ".lock"}
        if not unchanged:
            bad.append(f"{name}: the damaged store was changed")
        good += all(refused) and unchanged
    return good, len(DAMAGES), bad


# -- kills --------------------------------------------------------------------------------------------------
SLEEPY = '''
import time
from optsuite.problems.synthetic import Sphere
from optsuite.registry import register_problem

@register_problem("sweep-sleepy")
class Sleepy(Sphere):
    def evaluate(self, params, draw):
        time.sleep(0.02)
        return super().evaluate(params, draw)
'''


def sleepy_matrix(tune=False):
    plugin = WORK / "sleepy.py"
    plugin.write_text(SLEEPY)
    opt = '[[optimizers]]\nname = "gd"\n' + ('tune = { lr = [0.01, 0.1] }\n' if tune else 'grid = { lr = [0.01, 0.1] }\n')
    return toml(f"sleepy{'-tune' if tune else ''}.toml", f'seeds = 6\nimports = ["{plugin}"]\nbudgets = {{ steps = 20 }}\n'
                '[[problems]]\nname = "sweep-sleepy"\nsettings = { dim = 3 }\n' + opt
                + '[[optimizers]]\nname = "montecarlo"\nhyper = { population = 4 }\n')


def descendants(pid):
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def alive(procs):
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            pass
    return out


def comparable(store):
    cells = pd.read_parquet(store / CELLS).set_index("cell_id").sort_index()
    return cells[["status", "metric_train_loss", "trace_rows"]]


ENDED = []  # seconds from a driver's death to its last descendant's


def kills():
    plain, tuned = sleepy_matrix(), sleepy_matrix(tune=True)
    refs = {}
    for spec in (plain, tuned):
        ref = WORK / f"ref-{Path(spec).stem}"
        done = cli(["run", spec, "--out", str(ref), "-j", "2", "-q"])
        assert done.returncode == 0, done.stderr
        refs[spec] = comparable(ref)
    np_ref = WORK / "ref-noprop"
    np_args = ["noprop", "--set", "T=2", "--set", "hidden=8", "-b", "steps=300", "-j", "2", "-q"]
    assert cli([*np_args, "--out", str(np_ref)]).returncode == 0
    plans = ([("plain", plain, signal.SIGKILL, "driver")] * 6 + [("plain", plain, signal.SIGTERM, "driver")] * 6
             + [("tuning", tuned, signal.SIGKILL, "driver")] * 4 + [("tuning", tuned, signal.SIGTERM, "driver")] * 3
             + [("plain", plain, signal.SIGKILL, "worker")] * 3 + [("noprop", None, signal.SIGKILL, "driver")] * 3)
    good, bad = 0, []
    for i, (kind, spec, sig, target) in enumerate(plans):
        store = WORK / "kills" / f"{i}"
        args = [*np_args, "--out", str(store)] if kind == "noprop" else ["run", spec, "--out", str(store), "-j", "2", "-q"]
        driver = subprocess.Popen([*CLI, *args], cwd=WORK, start_new_session=True, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        time.sleep(random.uniform(2.0, 6.0))
        procs = descendants(driver.pid)
        if target == "worker":
            workers = [p for p in procs if "loky" in " ".join(p.cmdline())] if procs else []
            (workers or [psutil.Process(driver.pid)])[0].kill()
            driver.wait(timeout=300)
        else:
            driver.send_signal(sig)
            driver.wait(timeout=120)
            started = time.monotonic()
            names = {p.pid: " ".join(p.cmdline()[1:4]) for p in alive(procs)}
            while alive(procs) and time.monotonic() - started < 15:
                time.sleep(0.05)
            gone = time.monotonic() - started
            ENDED.append(gone)
            left = alive(procs)
            if gone > 1.3:
                bad.append(f"kill {i} ({kind}, {sig.name}): the last of {len(names)} processes ended {gone:.2f} s later")
            if left:
                bad.append(f"kill {i} ({kind}, {sig.name}): {[names.get(p.pid) for p in left]} alive after 15 s")
                for p in left:
                    p.kill()
                continue
        done = cli(args)  # resume
        if done.returncode != 0:
            bad.append(f"kill {i} ({kind}): the resume failed: {done.stderr.strip()[-300:]!r}")
            continue
        if kind == "noprop":
            same = comparable(store).drop(columns="metric_train_loss").equals(
                comparable(np_ref).drop(columns="metric_train_loss"))
            same = same and np.allclose(comparable(store)["metric_train_loss"], comparable(np_ref)["metric_train_loss"])
        else:
            same = comparable(store).equals(refs[spec])
        if same and (target == "worker" or ENDED[-1] <= 15):
            good += 1
        else:
            bad.append(f"kill {i} ({kind}, {sig.name}, {target}): the resumed store differs from the uninterrupted run")
    ended = sorted(ENDED)
    bad.append(f"driver kills: processes gone within 1.3 s in {sum(t <= 1.3 for t in ended)} of {len(ended)}; "
               f"median {ended[len(ended) // 2]:.2f} s, max {ended[-1]:.2f} s")
    return good, len(plans), bad


# -- reads during a write -----------------------------------------------------------------------------------
def reads():
    store = WORK / "reads"
    driver = subprocess.Popen([*CLI, "run", sleepy_matrix(), "--out", str(store), "-j", "2", "-q"], cwd=WORK,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    reader = textwrap.dedent(f"""
        import os, time
        from optsuite.errors import UserError
        from optsuite.report.results import Results
        ok = bad = 0
        while not os.path.exists({str(WORK / 'reads.done')!r}):
            try:
                r = Results.load({str(store)!r})
                rows = r.traces.groupby("cell_id").size().reindex(r.cells["cell_id"], fill_value=0).values
                agree = bool((rows == r.cells["trace_rows"].values).all())
                ok, bad = ok + agree, bad + (not agree)
            except UserError as e:
                if "holds no cells" not in str(e) and "no results store" not in str(e):
                    bad += 1
                    print("refused:", e)
        print(ok, bad)
    """)
    reading = subprocess.Popen([PY, "-c", reader], stdout=subprocess.PIPE, text=True)
    driver.wait(timeout=600)
    (WORK / "reads.done").write_text("1")
    out = reading.communicate(timeout=600)[0].strip().splitlines()
    ok, bad = map(int, out[-1].split())
    return ok, ok + bad, out[:-1]


# -- a full disk --------------------------------------------------------------------------------------------
def disk():
    mount = WORK / "tiny"
    mount.mkdir()
    args = lambda out: ["run", "-p", "noprop-dt(T=2,hidden=8)", "-o", "snes", "-o", "gd", "-o", "montecarlo", "-o", "cma",
                        "-s", "12",
                        "-b", "sample_forwards=6e4", "-j", "2", "-q", "--out", str(out)]
    assert cli(args(WORK / "disk-ref")).returncode == 0
    good, bad, sizes = 0, [], ["60k", "100k", "120k", "160k"]
    for size in sizes:
        if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)]).returncode:
            return 0, 0, ["cannot mount a tmpfs"]
        try:
            full = cli(args(mount / "s"))
            temporaries = [p.name for p in (mount / "s").iterdir() if ".tmp" in p.name]
            subprocess.run(["mount", "-o", "remount,size=20m", str(mount)], check=True)
            resumed = cli(args(mount / "s"))
            same = resumed.returncode == 0 and comparable(mount / "s").drop(columns="metric_train_loss").equals(
                comparable(WORK / "disk-ref").drop(columns="metric_train_loss"))
            msg = full.stderr.strip()
            ok = (one_line(full) and "run the same command again to resume" in msg and not temporaries and same)
            good += ok
            if not ok:
                bad.append(f"{size}: rc {full.returncode} {msg[-300:]!r}, temporaries {temporaries}, resumed equal {same}")
        finally:
            subprocess.run(["umount", str(mount)])
    return good, len(sizes), bad


# -- interrupted reports and exports ------------------------------------------------------------------------
def files(folder):
    """Every visible file and its bytes, the folder's own path in the report's texts replaced by OUT."""
    out = {}
    for p in folder.rglob("*"):
        if p.is_file() and not any(s.startswith(".") for s in p.relative_to(folder).parts):
            data = p.read_bytes()
            if p.suffix in (".md", ".html"):
                data = data.replace(str(folder).encode(), b"OUT")
            out[str(p.relative_to(folder))] = data
    return out


def outputs():
    a, b = WORK / "out-a", WORK / "out-b"
    for store, problem in ((a, "sphere(dim=3)"), (b, "rosenbrock(dim=2)")):
        assert cli(["run", "-p", problem, "-o", "gd", "-o", "snes", "-o", "montecarlo", "-s", "2", "-b", "steps=10",
                    "--out", str(store), "-q"]).returncode == 0
    kinds = {"report": lambda s, o: ["report", str(s), "--out", str(o)],
             "csv": lambda s, o: ["export", str(s), "--format", "csv", "--out", str(o)],
             "coco": lambda s, o: ["export", str(s), "--format", "coco", "--out", str(o)]}
    whole = {}
    for kind, argv in kinds.items():
        for s in (a, b):
            assert cli(argv(s, WORK / f"whole-{kind}-{s.name}")).returncode == 0
            whole[kind, s.name] = files(WORK / f"whole-{kind}-{s.name}")
    good, total, bad = 0, 0, []
    for kind, argv in kinds.items():
        for trial in range(8):
            out = WORK / f"kill-{kind}-{trial}"
            assert cli(argv(a, out)).returncode == 0
            old, new = whole[kind, "out-a"], whole[kind, "out-b"]
            p = subprocess.Popen([*CLI, *argv(b, out)], cwd=WORK, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(random.uniform(0.5, 5.0))
            p.send_signal(random.choice([signal.SIGKILL, signal.SIGTERM]))
            p.wait()
            found = files(out)
            index = {"report": "report.html", "csv": None, "coco": "problems.csv"}[kind]
            ok = found == old or (all(new.get(n) == data for n, data in found.items())
                                  and (index not in found or found == new))
            total += 1
            good += ok
            if not ok:
                bad.append(f"{kind} trial {trial}: a partial output ({sorted(found)[:6]} ...)")
    return good, total, bad


if __name__ == "__main__":
    try:
        if "inputs" in SECTIONS:
            report("bad inputs handled (exit 2, one line, nothing written)", *bad_inputs(*setup_inputs()))
        if "damage" in SECTIONS:
            report("damaged stores refused by run --dry-run, run, report and export, and left unchanged",
                   *damaged_stores())
        if "kills" in SECTIONS:
            report("kills survived (no process left; the resumed store equals an uninterrupted run)", *kills())
        if "reads" in SECTIONS:
            report("reads during a write consistent", *reads())
        if "disk" in SECTIONS:
            report("full disks: one line, no temporary, the resumed store equals an uninterrupted run", *disk())
        if "outputs" in SECTIONS:
            report("killed reports and exports: the old output, the new one, or whole new files without an index",
                   *outputs())
    finally:
        print("work folder:", WORK)
