# Byte-compiles the files named on stdin (one per line), as pip's compileall.compile_file
# would, but without its per-file overhead: the same code object, the same pyc invalidation
# mode (timestamp, or checked-hash under SOURCE_DATE_EPOCH), each written to a temporary
# name and renamed over the pyc. argv: STAGE_PREFIX DEST_PREFIX, so tracebacks name the final path.
import importlib._bootstrap_external as ext
import importlib.util
import os
import py_compile
import sys

stage, dest = sys.argv[1], sys.argv[2]
mode = py_compile._get_default_invalidation_mode()
# Tell the stub this worker started (it gives up on one that never says so).
sys.stdout.write("ready\n")
sys.stdout.flush()
for line in sys.stdin.buffer:
    path = os.fsdecode(line.rstrip(b"\n"))
    try:
        with open(path, "rb") as f:
            source = f.read()
        shown = dest + path[len(stage):] if path.startswith(stage) else path
        code = compile(source, shown, "exec", dont_inherit=True)
        if mode == py_compile.PycInvalidationMode.TIMESTAMP:
            st = os.stat(path)
            data = ext._code_to_timestamp_pyc(code, st.st_mtime, st.st_size)
        else:
            checked = mode == py_compile.PycInvalidationMode.CHECKED_HASH
            data = ext._code_to_hash_pyc(code, importlib.util.source_hash(source), checked)
        cfile = importlib.util.cache_from_source(path)
        # A new inode, renamed into place: never a write into an existing pyc, which may be
        # a file linked from another release.
        tmp = "%s.%d.tmp" % (cfile, os.getpid())
        try:
            f = open(tmp, "xb")
        except FileNotFoundError:
            os.makedirs(os.path.dirname(cfile), exist_ok=True)
            f = open(tmp, "xb")
        with f:
            f.write(data)
        os.replace(tmp, cfile)
    except (SyntaxError, ValueError, UnicodeDecodeError, OSError):
        pass  # as pip: a file that does not compile is installed, not compiled
