# Build-time byte-compile worker. Says "MAGIC CACHE_TAG X.Y.Z" once, then answers each
# request ("NAME_LEN SOURCE_LEN\n" NAME SOURCE) with "PYC_LEN\n" PYC: a checked-hash pyc
# (no mtime: the same source gives the same bytes) whose co_filename is NAME, or length 0
# when the source does not compile (installed uncompiled, as pip does).
import importlib._bootstrap_external as ext
import importlib.util
import sys

inp, out = sys.stdin.buffer, sys.stdout.buffer
v = sys.version_info
out.write(("%s %s %d.%d.%d\n" % (importlib.util.MAGIC_NUMBER.hex(), sys.implementation.cache_tag,
                                  v[0], v[1], v[2])).encode())
out.flush()
while True:
    head = inp.readline()
    if not head:
        break
    name_len, source_len = map(int, head.split())
    name = inp.read(name_len).decode("utf-8", "surrogateescape")
    source = inp.read(source_len)
    try:
        code = compile(source, name, "exec", dont_inherit=True)
        data = bytes(ext._code_to_hash_pyc(code, importlib.util.source_hash(source), True))
    except Exception:
        data = b""
    out.write(b"%d\n" % len(data))
    out.write(data)
    out.flush()
