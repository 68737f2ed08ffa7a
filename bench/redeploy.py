"""Re-deploy benchmark (issue 10), driven by bench/redeploy.sh. Packs three artifacts of the
corpus with bench/artifact.sh: A, B (A with one app file changed) and C (A with one wheel
changed: a file added, same name and version); then times, once per round in alternating
order, each way below in a fresh directory, and prints medians, peak RSS, what the stub did
(its receipt), the ratios issue 10 sets and the artifact sizes, as Markdown. Two floor rows
time `cp -al` of an installed tree (release 1's, and uv's): what linking file by file costs on
this filesystem before any work of the installer's own.

Written to run on any main: options the stub may not have (--no-link) are looked up in the
artifact's --help, and a case it cannot run is left out, saying so."""
import argparse
import base64
import glob
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import zipfile

p = argparse.ArgumentParser()
for a in ("root", "work", "python", "wheels", "uv"):
    p.add_argument("--" + a, required=True)
p.add_argument("--rounds", type=int, default=5)
args = p.parse_args()

INPUTS = os.path.join(args.work, "redeploy")
WHEELS = sorted(glob.glob(os.path.join(args.wheels, "*.whl")))
# The machine sets these; a benchmark of uv's pip must not inherit them.
ENV = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "UV_"))}
ENV["PATH"] = os.path.dirname(args.uv) + ":" + ENV["PATH"]


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def app(variant):
    """The app tree of one artifact. Always named cms: a release links only from the same app."""
    tree = os.path.join(INPUTS, "app-" + variant, "cms")
    write(os.path.join(tree, "__init__.py"), "")
    write(os.path.join(tree, "views.py"), f"VERSION = {variant!r}\n")
    return tree


def changed_wheel(src, out):
    """A copy of wheel `src` with one module added and listed in RECORD: a new sha256, but the
    same file name and version, so the build takes it in the original's place."""
    name, data = "_wheelsfx_bench_changed.py", b"CHANGED = True\n"
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            body = zin.read(info)
            if info.filename.endswith(".dist-info/RECORD"):
                zout.writestr(name, data)
                body = body.rstrip(b"\n") + f"\n{name},sha256={digest},{len(data)}\n".encode()
            zout.writestr(info, body)


def build(variant, wheelhouse=args.wheels):
    out = os.path.join(INPUTS, f"cms-{variant}.sfx")
    env = dict(os.environ, BENCH_WORK=args.work, BENCH_APP=app(variant), BENCH_OUT=out,
               BENCH_WHEELHOUSE=wheelhouse, BENCH_PYTHON=args.python)
    subprocess.run(["bash", os.path.join(args.root, "bench", "artifact.sh")], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return out


def wheelhouse_with_changed(wheel):
    """The corpus with `wheel` replaced by its changed copy (the others hard-linked, or copied
    when BENCH_WORK is on another filesystem than the corpus)."""
    house = os.path.join(INPUTS, "wheels-c")
    shutil.rmtree(house, ignore_errors=True)
    os.makedirs(house)
    for w in WHEELS:
        if w != wheel:
            try:
                os.link(w, os.path.join(house, os.path.basename(w)))
            except OSError:
                shutil.copy(w, house)
    changed_wheel(wheel, os.path.join(house, os.path.basename(wheel)))
    return house


SMALL = min(WHEELS, key=os.path.getsize)
A, B = build("a"), build("b")
C = build("c", wheelhouse_with_changed(SMALL))
HELP = subprocess.run([A, "--help"], capture_output=True, text=True).stdout  # its stub's
LINKS = "--no-link" in HELP

PY, UV_WHEELS = args.python, " ".join(WHEELS)
ON_PREV = f"{A} -d $PREV --python {PY}"  # release 1, deployed (untimed) before the timed one
UV = f"uv venv -q -p {PY} $D && uv pip install -q --no-index --no-deps -p $D/bin/python {UV_WHEELS}"
# name: (untimed setup or None, timed command); D is release 2, PREV release 1, in a fresh dir.
CASES = {
    "fresh, bytecode": (None, f"{A} -d $D --python {PY}"),
    "fresh, --no-compile": (None, f"{A} -d $D --python {PY} --no-compile"),
    "app changed (B after A)": (ON_PREV, f"{B} -d $D --python {PY}"),
    "app changed, --no-link": (ON_PREV, f"{B} -d $D --python {PY} --no-link"),
    "one wheel changed (C after A)": (ON_PREV, f"{C} -d $D --python {PY}"),
    "one wheel changed, --no-link": (ON_PREV, f"{C} -d $D --python {PY} --no-link"),
    "uv, warm cache": (None, UV),
    "uv, warm cache, --compile-bytecode": (None, UV.replace("--no-deps", "--no-deps --compile-bytecode")),
    # The floor of linking file by file, with no reading or checking at all: GNU cp making
    # every directory and hard-linking every file of an installed tree (one thread).
    "floor: cp -al of release 1's venv": (ON_PREV, "mkdir -p $D && cp -al $PREV/venv $D/venv"),
    "floor: cp -al of uv's venv": (UV.replace("$D", "$PREV"), "cp -al $PREV $D"),
}
if not LINKS:
    CASES = {k: v for k, v in CASES.items() if "--no-link" not in k}

# Every run writes into a fresh directory that is only deleted at the end (see bench.py: ext4
# slows down creating files right after deleting many).
RUNS = tempfile.mkdtemp(dir=args.work, prefix="redeploy-runs-")
UV_CACHE = os.path.join(RUNS, "uv-cache")  # same filesystem as the venvs: uv hard-links


def run(case):
    setup, cmd = CASES[case]
    root = tempfile.mkdtemp(dir=RUNS)
    env = dict(ENV, D=os.path.join(root, "releases", "2"), PREV=os.path.join(root, "releases", "1"),
               UV_CACHE_DIR=UV_CACHE)
    for c in filter(None, (setup, "sync")):  # sync: release 1's writeback is not timed
        sh(["sh", "-c", c], env)
    wall, rss = sh(["/usr/bin/time", "-f", "%e %M", "sh", "-c", cmd], env).splitlines()[-1].split()
    return float(wall), int(rss) / 1024, did(env["D"])


def sh(argv, env):
    """Runs argv, returns its stderr (/usr/bin/time's line last); a failure stops the benchmark."""
    out = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if out.returncode:
        raise SystemExit(f"failed: {argv[-1]}\n{out.stderr}")
    return out.stderr.strip()


def did(dest):
    """What the stub says it did, from its receipt: where the bytecode came from, what it linked."""
    try:
        with open(os.path.join(dest, ".wheelsfx", "receipt.json")) as f:
            r = json.load(f)
    except FileNotFoundError:
        return "-"
    bc = r.get("bytecode")
    source = bc.get("source") if isinstance(bc, dict) else ("deploy" if r.get("compiled") else "none")
    link = r.get("linked")
    linked = f"linked {link.get('wheels')} wheels ({link.get('method')})" if link else "nothing linked"
    return f"bytecode: {source}; {linked}"


run("uv, warm cache")  # warms UV_CACHE_DIR, untimed
results = {k: [] for k in CASES}
for r in range(args.rounds):
    for case in list(CASES) if r % 2 == 0 else list(reversed(CASES)):
        results[case].append(run(case))
    print(f"round {r + 1}/{args.rounds} done", flush=True)


def report():
    med = {k: statistics.median(w for w, _, _ in v) for k, v in results.items()}
    rss = {k: max(m for _, m, _ in v) for k, v in results.items()}
    print(f"\n{args.rounds} alternating rounds, {len(WHEELS)} wheels, {os.cpu_count()} cores; "
          f"changed wheel: {os.path.basename(SMALL)}; "
          f"stub --no-link: {'yes' if LINKS else 'no (this stub does not link)'}\n")
    print("| way | median wall (s) | min-max (s) | peak RSS (MB) | what the stub did |")
    print("|---|---|---|---|---|")
    for k, v in results.items():
        walls = [w for w, _, _ in v]
        dids = " / ".join(sorted({d for _, _, d in v}))
        print(f"| {k} | {med[k]:.2f} | {min(walls):.2f}-{max(walls):.2f} | {rss[k]:.0f} | {dids} |")
    uv, uv_bc = med["uv, warm cache"], med["uv, warm cache, --compile-bytecode"]
    print("\n| ratio | value | target |")
    print("|---|---|---|")
    print(f"| fresh bytecode / fresh --no-compile | {med['fresh, bytecode'] / med['fresh, --no-compile']:.2f} | <= 1.3 |")
    for k in ("app changed (B after A)", "one wheel changed (C after A)"):
        print(f"| {k} / uv warm --compile-bytecode (both with bytecode) | {med[k] / uv_bc:.2f} | <= 0.5 |")
        print(f"| {k} / uv warm (wheelsfx with bytecode, uv without) | {med[k] / uv:.2f} | <= 0.5 |")
        if LINKS:
            print(f"| {k}: linked / --no-link | {med[k] / med[k.split(' (')[0] + ', --no-link']:.2f} | |")
    floor, uv_floor = med["floor: cp -al of release 1's venv"], med["floor: cp -al of uv's venv"]
    print(f"| floor: cp -al of release 1's venv / uv warm | {floor / uv:.2f} | |")
    print(f"| floor: cp -al of uv's venv / uv warm | {uv_floor / uv:.2f} | |")
    print(f"| app changed (B after A) / its floor | {med['app changed (B after A)'] / floor:.2f} | |")
    worst = max(v for k, v in rss.items() if not k.startswith(("uv", "floor")))
    print(f"| peak RSS of any wheelsfx deploy (MB) | {worst:.0f} | < 100 |")
    print("\n| artifact | bytes | bytecode entries | their bytes (compressed) |")
    print("|---|---|---|---|")
    for name, path in (("A", A), ("B: one app file changed", B), ("C: one wheel changed", C)):
        with zipfile.ZipFile(path) as z:
            pycs = [i for i in z.infolist() if i.filename.startswith("bytecode/")]
        size = sum(i.compress_size for i in pycs)
        print(f"| {name} | {os.path.getsize(path):,} | {len(pycs):,} | {size:,} |")


report()
shutil.rmtree(RUNS)  # after the report: deleting 30,000+ files can take minutes
