"""Writes small valid seed inputs for the payload fuzz target into fuzz/corpus/payload/."""
import hashlib, io, json, os, zipfile

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "payload")
os.makedirs(out, exist_ok=True)


def wheel():
    b = io.BytesIO()
    files = {"w/__init__.py": b"X = 1\n", "w-1.0.dist-info/METADATA": b"Name: w\nVersion: 1.0\n",
             "w-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\n"}
    rec = "".join("%s,sha256=%s,%d\n" % (n, __import__("base64").urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b"=").decode(), len(d)) for n, d in files.items())
    files["w-1.0.dist-info/RECORD"] = (rec + "w-1.0.dist-info/RECORD,,\n").encode()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in files.items():
            z.writestr(n, d)
    return b.getvalue(), files["w-1.0.dist-info/RECORD"]


def artifact(whl, index=False):
    entries = [("app/a.py", b"print(1)\n", zipfile.ZIP_DEFLATED), ("wheels/w-1.0-py3-none-any.whl", whl, zipfile.ZIP_STORED)]
    ents = [{"path": p, "sha256": hashlib.sha256(d).hexdigest(), "size": len(d), "mode": 420} for p, d, _ in entries]
    digest = hashlib.sha256("".join("%s\0%s\0%d\n" % (e["path"], e["sha256"], e["size"]) for e in ents).encode()).hexdigest()
    w = {"file": "wheels/w-1.0-py3-none-any.whl", "distribution": "w", "version": "1.0", "tags": ["py3-none-any"],
         "requires_python": None, "sha256": ents[1]["sha256"], "size": ents[1]["size"]}
    m = {"format": 1, "app": {"name": "app", "build_id": None}, "created": 0, "packer": "seed",
         "target": {"python_versions": [], "tags": ["py3-none-any"]}, "wheels": [w], "bootstrap_wheels": [],
         "entries": ents, "digest": digest}
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        z.writestr(zipfile.ZipInfo(".wheelsfx/manifest.json"), json.dumps(m), zipfile.ZIP_DEFLATED)
        for p, d, c in entries:
            z.writestr(zipfile.ZipInfo(p), d, c)
        # With an index (one chunk: the target seals it), as the packer writes them now.
        z.comment = (b"wheelsfx-chunks:" + b"0" * 64 if index else b"") + b"wheelsfx-sha256:" + b"0" * 64
    return b.getvalue(), json.dumps(m).encode()


whl, rec = wheel()
art, manifest = artifact(whl)
indexed, _ = artifact(whl, index=True)
for name, data in [("artifact", b"\0" + art), ("indexed", b"\0" + indexed), ("manifest", b"\1" + manifest), ("record", b"\2" + rec),
                   ("names", b"\2>=3.8, !=3.9.*"), ("wheel", b"\3" + whl)]:
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
