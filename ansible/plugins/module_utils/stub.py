# -*- coding: utf-8 -*-
# Copyright: wheelsfx contributors
# MIT License (see the repository's LICENSE)
"""What the modules share: running a wheelsfx stub with --json, and reading receipts.

The stub is the one implementation of installing, activating, pruning and rolling back; these
helpers only run it and read what it wrote, so the modules never re-implement its rules.
"""

from __future__ import annotations

import json
import os

RECEIPT = os.path.join(".wheelsfx", "receipt.json")


def read_receipt(release):
    """The parsed `RELEASE/.wheelsfx/receipt.json`, or None when it is absent or unreadable."""
    try:
        with open(os.path.join(release, RECEIPT), "rb") as f:
            receipt = json.load(f)
    except (OSError, ValueError):
        return None
    return receipt if isinstance(receipt, dict) else None


def is_complete(receipt):
    """The stub's rule: a receipt with state "complete", or with no state at all (written by a
    stub older than hooks), is a complete release; anything else (hooks pending or failed) is not."""
    return receipt is not None and receipt.get("state", "complete") == "complete"


def run_stub(module, argv):
    """Runs `argv` (a stub with --json) and returns its JSON object, or fails the task with the
    stub's own sentence as `msg` and its exit code as `rc`. On failure the stub's JSON (when it
    printed one) is returned too as `result`, and its stderr (hook output) as `stderr`."""
    rc, out, err = module.run_command(argv, check_rc=False)
    try:
        result = json.loads(out) if out.strip() else None
    except ValueError:
        result = None
    if not isinstance(result, dict):
        module.fail_json(
            msg="%s printed no JSON result (exit status %d): %s"
            % (argv[0], rc, (err.strip().splitlines() or ["no output"])[-1]),
            rc=rc,
            cmd=argv,
            stdout=out,
            stderr=err,
        )
    if rc != 0:
        module.fail_json(
            msg=result.get("error") or "%s exited with status %d" % (argv[0], rc),
            rc=rc,
            cmd=argv,
            result=result,
            stderr=err,
        )
    return result, err
