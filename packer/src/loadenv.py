# Installed by wheelsfx into the venv's site-packages and imported at every interpreter start
# (by loadenv-init.pth): reads DEST/environment.json, a flat JSON object of strings, into
# os.environ. Values in the file win over the inherited environment. Any problem is one line
# on stderr naming the file; the interpreter still starts, unless WHEELSFX_STRICT_ENV=1 is
# set: then a missing or broken file stops it (exit 1), so an app never starts half-configured.
import json
import os
import sys


def _problem(path, strict):
    """Loads the file; returns what is wrong with it, or None."""
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        return "it does not exist" if strict else None
    except (OSError, ValueError) as e:
        return str(e)
    if not isinstance(data, dict):
        return "it must be a JSON object"
    bad = sorted(k for k, v in data.items() if not isinstance(v, str))
    if bad:
        return "values must be strings (not %s)" % ", ".join(bad)
    os.environ.update(data)
    return None


def _load():
    path = os.path.join(os.path.dirname(sys.prefix), "environment.json")
    strict = os.environ.get("WHEELSFX_STRICT_ENV") == "1"
    problem = _problem(path, strict)
    if problem is None:
        return
    if not strict:
        sys.stderr.write("wheelsfx loadenv: %s is not loaded: %s\n" % (path, problem))
        return
    sys.stderr.write("wheelsfx loadenv: %s is not loaded: %s; WHEELSFX_STRICT_ENV=1 requires it, "
                     "so Python stops here\n" % (path, problem))
    sys.stderr.flush()
    # Not SystemExit: raised from a .pth file, site turns it into a fatal error with a
    # traceback, and the one line above is the whole message.
    os._exit(1)


_load()
