# Asked of a candidate interpreter once (with -I -S): every fact the stub needs about it.
# No json or importlib.util: importing them is most of this script's run time.
import os, sys, sysconfig

def libc():
    try:
        name, ver = os.confstr("CS_GNU_LIBC_VERSION").split()
        if name == "glibc":
            return ["glibc", ver]
    except (AttributeError, ValueError, OSError, TypeError):
        pass
    import glob, subprocess
    for loader in glob.glob("/lib/ld-musl-*.so.1"):
        out = subprocess.run([loader], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL).stderr
        for line in out.decode("utf-8", "replace").splitlines():
            if line.startswith("Version "):
                return ["musl", line.split()[1]]
    return None

def abi():
    cv = sysconfig.get_config_var
    if sys.implementation.name != "cpython":
        return (cv("SOABI") or "none").replace("-", "_").replace(".", "_").split("_x86")[0]
    return "cp%d%d%s%s" % (sys.version_info[0], sys.version_info[1],
                           "d" if cv("Py_DEBUG") else "", "t" if cv("Py_GIL_DISABLED") else "")

try:
    from _frozen_importlib_external import MAGIC_NUMBER
except ImportError:
    from importlib.util import MAGIC_NUMBER

def esc(c):
    n = ord(c)
    if n < 0x10000:
        return "\\u%04x" % n
    n -= 0x10000
    return "\\u%04x\\u%04x" % (0xD800 + (n >> 10), 0xDC00 + (n & 0x3FF))

def enc(v):
    """These few types as ASCII-only JSON."""
    if v is None or isinstance(v, bool):
        return {None: "null", True: "true", False: "false"}[v]
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(enc(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(enc(k) + ":" + enc(x) for k, x in v.items()) + "}"
    return '"' + "".join(c if " " <= c <= "~" and c not in '"\\' else esc(c) for c in v) + '"'

base = getattr(sys, "_base_executable", None) or sys.executable
print(enc({
    "implementation": sys.implementation.name,
    "version": list(sys.version_info[:3]),
    "abi": abi(),
    "machine": sysconfig.get_platform().split("-", 1)[-1],
    "libc": libc(),
    "executable": os.path.realpath(base),
    "is64": sys.maxsize > 2**32,
    "magic": MAGIC_NUMBER.hex(),
    "cache_tag": sys.implementation.cache_tag,
}))
