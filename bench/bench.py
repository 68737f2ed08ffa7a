"""Runs each deploy way once per round, in alternating order, into an empty directory, and
prints medians, peak RSS and the ratios the issues ask for. Driven by bench/run.sh."""
import argparse
import glob
import os
import shutil
import statistics
import subprocess
import tempfile

p = argparse.ArgumentParser()
for a in ("work", "python", "artifact", "wheels", "uv", "stub"):
    p.add_argument("--" + a, required=True)
p.add_argument("--rounds", type=int, default=5)
args = p.parse_args()

WHEELS = " ".join(sorted(glob.glob(os.path.join(args.wheels, "*.whl"))))
N = os.cpu_count() or 1
# The machine sets these; a benchmark of pip must not inherit them.
ENV = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}

CASES = {
    "wheelsfx --no-compile": f"{args.artifact} -d $D --python {args.python} --no-compile",
    "wheelsfx (bytecode)": f"{args.artifact} -d $D --python {args.python}",
    "uv venv + uv pip install (cold)": f"uv venv -q -p {args.python} $D && uv pip install -q --no-index --no-deps -p $D/bin/python {WHEELS}",
    "uv ... --compile-bytecode (cold)": f"uv venv -q -p {args.python} $D && uv pip install -q --no-index --no-deps --compile-bytecode -p $D/bin/python {WHEELS}",
    "venv + pip --no-compile": f"{args.python} -m venv $D && $D/bin/pip install -q --no-index --no-deps --no-compile {WHEELS}",
    "venv + pip (bytecode)": f"{args.python} -m venv $D && $D/bin/pip install -q --no-index --no-deps {WHEELS}",
    "unzip, sequential": f"for w in {WHEELS}; do unzip -qo $w -d $D; done",
    f"unzip, parallel (-P {N})": f"mkdir -p $D && printf '%s\\n' {WHEELS} | xargs -P {N} -I{{}} unzip -qo {{}} -d $D",
}


# Every run writes into a fresh directory that is only deleted at the end: deleting 14,000
# files just before the next run makes ext4's inode allocator scan "recently deleted" inodes
# (seen in perf as recently_deleted/find_inode_bit), which slows whichever way runs next.
RUNS = tempfile.mkdtemp(dir=args.work, prefix="runs-")


def run(cmd):
    root = tempfile.mkdtemp(dir=RUNS)
    env = dict(ENV, D=os.path.join(root, "dest"), UV_CACHE_DIR=os.path.join(root, "uv-cache"),
               PATH=os.path.dirname(args.uv) + ":" + ENV["PATH"])
    out = subprocess.run(["/usr/bin/time", "-f", "%e %M", "sh", "-c", cmd], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if out.returncode:
        raise SystemExit(f"failed: {cmd}\n{out.stderr}")
    wall, rss = out.stderr.strip().splitlines()[-1].split()
    return float(wall), int(rss) / 1024


results = {k: [] for k in CASES}
for r in range(args.rounds):
    order = list(CASES) if r % 2 == 0 else list(reversed(CASES))
    for name in order:
        results[name].append(run(CASES[name]))
    print(f"round {r + 1}/{args.rounds} done", flush=True)

shutil.rmtree(RUNS)
med = {k: statistics.median(w for w, _ in v) for k, v in results.items()}
rss = {k: max(m for _, m in v) for k, v in results.items()}
print(f"\n{args.rounds} alternating rounds, {len(WHEELS.split())} wheels, {N} cores\n")
print("| way | median wall (s) | min-max (s) | peak RSS (MB) |")
print("|---|---|---|---|")
for k, v in results.items():
    walls = [w for w, _ in v]
    print(f"| {k} | {med[k]:.2f} | {min(walls):.2f}-{max(walls):.2f} | {rss[k]:.0f} |")
nc, bc = med["wheelsfx --no-compile"], med["wheelsfx (bytecode)"]
print("\n| ratio | value | target |")
print("|---|---|---|")
print(f"| wheelsfx / uv, no bytecode | {nc / med['uv venv + uv pip install (cold)']:.2f} | <= 0.7 |")
print(f"| wheelsfx / sequential unzip | {nc / med['unzip, sequential']:.2f} | <= 0.7 |")
print(f"| wheelsfx / parallel unzip | {nc / med[f'unzip, parallel (-P {N})']:.2f} | |")
print(f"| wheelsfx / pip, bytecode | {bc / med['venv + pip (bytecode)']:.2f} | <= 0.25 |")
print(f"| wheelsfx / uv, bytecode | {bc / med['uv ... --compile-bytecode (cold)']:.2f} | |")
print(f"| wheelsfx / pip, no bytecode | {nc / med['venv + pip --no-compile']:.2f} | |")
print(f"\nstub size: {os.path.getsize(args.stub)} bytes; artifact: {os.path.getsize(args.artifact)} bytes")
