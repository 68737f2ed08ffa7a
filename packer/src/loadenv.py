# Installed by wheelsfx into the venv's site-packages and imported at every interpreter start
# (by loadenv-init.pth): reads DEST/environment.json, a flat JSON object of strings, into
# os.environ. Values in the file win over the inherited environment. Any problem is one line
# on stderr naming the file; the interpreter still starts.
import json
import os
import sys


def _load():
    path = os.path.join(os.path.dirname(sys.prefix), "environment.json")
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        return
    except (OSError, ValueError) as e:
        sys.stderr.write("wheelsfx loadenv: %s is not loaded: %s\n" % (path, e))
        return
    if not isinstance(data, dict):
        sys.stderr.write("wheelsfx loadenv: %s is not loaded: it must be a JSON object\n" % path)
        return
    bad = sorted(k for k, v in data.items() if not isinstance(v, str))
    if bad:
        sys.stderr.write("wheelsfx loadenv: %s is not loaded: values must be strings (not %s)\n"
                         % (path, ", ".join(bad)))
        return
    os.environ.update(data)


_load()
