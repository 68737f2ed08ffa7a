# Asked of a candidate interpreter once (with -I -S): every fact the stub needs about it.
import json, os, sys, sysconfig

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

import importlib.util
base = getattr(sys, "_base_executable", None) or sys.executable
print(json.dumps({
    "implementation": sys.implementation.name,
    "version": list(sys.version_info[:3]),
    "abi": abi(),
    "machine": sysconfig.get_platform().split("-", 1)[-1],
    "libc": libc(),
    "executable": os.path.realpath(base),
    "is64": sys.maxsize > 2**32,
    "magic": importlib.util.MAGIC_NUMBER.hex(),
    "cache_tag": sys.implementation.cache_tag,
}))
