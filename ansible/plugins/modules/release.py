#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: wheelsfx contributors
# MIT License (see the repository's LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
module: release
short_description: Install a wheelsfx artifact as a release, run its hooks, activate it, prune, or roll back
description:
  - Runs a wheelsfx artifact already on the target host with C(-d DEST --json) and the options
    below, and reports what its stub did. The stub installs the release into a hidden staging
    directory, runs the post-install hooks (declared at build time, plus I(run)), points
    I(activate) at the release and prunes old releases (I(keep)).
  - The same artifact onto a complete release is a no-op (C(changed=false)); I(activate) and
    I(keep) still apply and report C(changed) when they do something.
  - "With I(rollback): runs the active release's own stub, C(LINK/.wheelsfx/wheelsfx --rollback LINK),
    which needs no artifact: it works after the artifacts were deleted."
  - When I(digest) is given and I(dest) already holds a complete release of an artifact with
    that digest, the artifact need not be on the host. Activation and pruning are then done by
    the release's own stub. Use M(wheelsfx.deploy.release_info) to decide whether to copy it.
  - Failures carry the stub's one-sentence reason as C(msg) and its exit code as C(rc)
    (3 corrupt or untrusted artifact, 4 no fitting Python, 5 install failed, 6 I(dest) holds
    something else, 7 another run holds I(dest), 8 a hook failed, 9 activation, rollback or
    pruning failed).
version_added: 0.1.0
author:
  - wheelsfx contributors (@wheelsfx)
options:
  artifact:
    description:
      - The artifact's path on the target host (copy it there first, for example with
        M(ansible.builtin.copy), mode C(0700)).
      - Required with I(dest).
    type: path
  dest:
    description:
      - The release directory to create, for example C(/srv/mysite/releases/42).
      - Its parent must not be writable by other users.
    type: path
  digest:
    description:
      - The artifact's digest (C(artifact_digest) from M(wheelsfx.deploy.artifact_info)).
      - When I(dest) is a complete release with this digest and I(artifact) does not exist,
        the artifact is not needed; see the description.
    type: str
  activate:
    description:
      - After the hooks succeed, point this symlink at I(dest) (relative link, swapped in atomically).
      - A real file or directory at this path is an error (rc 9).
    type: path
  keep:
    description:
      - After activation, keep this many newest complete releases beside I(dest); older complete
        releases are removed in the background. Never removes I(dest), the active release, or
        anything that is not a complete release.
      - With I(rollback), prunes the same way after rolling back.
    type: int
  run:
    description:
      - Deploy-time hooks, run after the build-time ones, each with C(/bin/sh -c) in C(DEST/<app>),
        with C(DEST/venv/bin) first on PATH and C(environment.json) loaded.
    type: list
    elements: str
    default: []
  no_hooks:
    description: Run no hooks at all (the receipt records them as skipped).
    type: bool
    default: false
  rerun_hooks:
    description: On an unchanged complete release, run the hooks again (C(changed=true)).
    type: bool
    default: false
  env_file:
    description:
      - A JSON file on the host (a flat object of strings), validated and copied to
        C(DEST/environment.json) with its own mode.
      - To share one file between releases instead, use I(link_shared) C(environment.json).
    type: path
  env_mode:
    description: The mode of C(DEST/environment.json) when copied from I(env_file), for example C("0640").
    type: str
  env_group:
    description: The group (name or gid) of C(DEST/environment.json) when copied from I(env_file).
    type: str
  strict_env:
    description:
      - C(DEST/environment.json) must exist and be valid before the hooks run (else the hooks
        fail, rc 8), and the hooks run with C(WHEELSFX_STRICT_ENV=1), which makes a missing or
        broken file fatal at interpreter start.
    type: bool
    default: false
  shared:
    description:
      - The shared directory I(link_shared) paths point into.
      - Default, by the stub, C(DEST/../../shared) when the parent of I(dest) is named C(releases).
    type: path
  link_shared:
    description:
      - Paths relative to the release (C(environment.json), C(media/), C(mysite/media)) replaced
        by symlinks to the same path under I(shared), before the hooks run; added to those the
        artifact declares. A path ending in C(/) is created in I(shared) as a directory when missing.
    type: list
    elements: str
    default: []
  python:
    description: The interpreter for the venv (path or name); default, the first one on PATH that fits every wheel.
    type: str
  trust:
    description: Install only if signed by one of these keys (C(.pub) file on the host, or its key line).
    type: list
    elements: str
    default: []
  force:
    description:
      - Replace an existing I(dest) that holds something else. Refused on the active release
        (deploy a new release directory instead).
    type: bool
    default: false
  installer:
    description: Who installs the wheels.
    type: str
    choices: [native, pip]
  wait:
    description: Wait for another run on the same I(dest) instead of failing (rc 7).
    type: bool
    default: false
  rollback:
    description:
      - Roll this symlink back to the previous complete release (or to I(to)), using the active
        release's own stub. Mutually exclusive with I(artifact) and I(dest).
    type: path
  to:
    description: With I(rollback), the release (a directory name beside the active one) to point at.
    type: str
attributes:
  check_mode:
    support: full
    description: Runs in check mode, reporting what it would do.
    details: Passes C(--dry-run) to the stub, which verifies the artifact, chooses the interpreter and plans, writing nothing.
  diff_mode:
    support: none
    description: Shows no diff.
notes:
  - The stub is a static Linux x86_64 executable; the target host needs only its own Python 3.
  - Hook output (C([hook N] ...) lines) is returned in C(stderr) and shown on failure.
seealso:
  - module: wheelsfx.deploy.release_info
  - module: wheelsfx.deploy.artifact_info
"""

EXAMPLES = r"""
- name: Install release 42, run its hooks, make it current, keep five releases
  wheelsfx.deploy.release:
    artifact: /srv/mysite/mysite.sfx
    dest: /srv/mysite/releases/42
    activate: /srv/mysite/current
    keep: 5
    link_shared: [environment.json, media/]
    run:
      - python manage.py check --deploy
  register: deployed

- name: Roll current back to the previous release (the artifacts may be long gone)
  wheelsfx.deploy.release:
    rollback: /srv/mysite/current

- name: Roll back to a named release
  wheelsfx.deploy.release:
    rollback: /srv/mysite/current
    to: "41"
"""

RETURN = r"""
receipt:
  description:
    - What the stub printed with C(--json), the release's receipt (C(app), C(build_id),
      C(artifact_digest), C(state), C(hooks), C(python), C(installed_at), ...) plus C(changed),
      C(actions), C(activated) and C(pruned).
    - On failure, the stub's JSON is in C(result) instead.
  returned: success
  type: dict
actions:
  description: What was done, in order (C(installed), C(hooks), C(activated), C(pruned), ...); what would be done in check mode.
  returned: success
  type: list
  elements: str
  sample: [installed, hooks, activated]
activated:
  description: The link, its new target and its previous target, when I(activate) or I(rollback) was given.
  returned: when activation or rollback ran
  type: dict
  sample: {link: /srv/mysite/current, target: /srv/mysite/releases/42, previous: /srv/mysite/releases/41}
pruned:
  description: The release directories removed by I(keep).
  returned: when I(keep) removed something
  type: list
  elements: str
rc:
  description: The stub's exit code.
  returned: always
  type: int
stderr:
  description: The stub's stderr, with every hook's output as C([hook N] line).
  returned: always
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.wheelsfx.deploy.plugins.module_utils.stub import (
    is_complete,
    read_receipt,
    run_stub,
)

# Module option -> stub flag. A true bool is the bare flag, a list repeats the flag once per
# element, anything else is the flag and its value; None, False and [] pass nothing.
DEPLOY_FLAGS = {
    "activate": "--activate",
    "keep": "--keep",
    "run": "--run",
    "no_hooks": "--no-hooks",
    "rerun_hooks": "--rerun-hooks",
    "env_file": "--env-file",
    "env_mode": "--env-mode",
    "env_group": "--env-group",
    "strict_env": "--strict-env",
    "shared": "--shared",
    "link_shared": "--link-shared",
    "python": "--python",
    "trust": "--trust",
    "force": "--force",
    "installer": "--installer",
    "wait": "--wait",
}
ROLLBACK_FLAGS = {"to": "--to", "keep": "--keep"}


def flags(params, table):
    argv = []
    for option, flag in table.items():
        value = params[option]
        if value is None or value is False:
            continue
        if value is True:
            argv.append(flag)
        elif isinstance(value, list):
            for item in value:
                argv += [flag, item]
        else:
            argv += [flag, str(value)]
    return argv


def own_stub(release):
    """The stub a release keeps of itself (without payload): rollback and pruning need no artifact."""
    return os.path.join(release, ".wheelsfx", "wheelsfx")


def rollback_argv(module, link, params):
    if not os.path.lexists(link):
        module.fail_json(msg="%s does not exist: no release is active, there is nothing to roll back" % link, rc=9)
    stub = own_stub(link)
    if not os.path.exists(stub):
        module.fail_json(
            msg="%s points to %s, which has no .wheelsfx/wheelsfx (not installed by a wheelsfx "
            "stub that supports rollback): nothing to roll back with" % (link, os.path.realpath(link)),
            rc=9,
        )
    return [stub, "--rollback", link] + flags(params, ROLLBACK_FLAGS)


def already_installed(params):
    """DEST is a complete release of the artifact with digest `digest`."""
    receipt = read_receipt(params["dest"])
    return bool(params["digest"]) and is_complete(receipt) and receipt.get("artifact_digest") == params["digest"]


def installed_argv(module, params):
    """The artifact is absent but DEST is a complete release of it: activation and keep are
    the release's own stub's job (`--rollback LINK --to DEST` points LINK at it)."""
    dest = params["dest"]
    if params["rerun_hooks"]:
        module.fail_json(msg="rerun_hooks needs the artifact on the host: %s is missing" % params["artifact"])
    if params["activate"] is None:
        if params["keep"] is not None:
            module.fail_json(msg="keep without activate needs the artifact on the host: %s is missing" % params["artifact"])
        module.exit_json(
            changed=False, actions=[], rc=0, stderr="",
            receipt=dict(read_receipt(dest), changed=False, actions=[]),
        )
    return [own_stub(dest), "--rollback", params["activate"], "--to", os.path.basename(dest)] + flags(
        params, {"keep": "--keep"}
    )


def main():
    module = AnsibleModule(
        argument_spec=dict(
            artifact=dict(type="path"),
            dest=dict(type="path"),
            digest=dict(type="str"),
            activate=dict(type="path"),
            keep=dict(type="int"),
            run=dict(type="list", elements="str", default=[]),
            no_hooks=dict(type="bool", default=False),
            rerun_hooks=dict(type="bool", default=False),
            env_file=dict(type="path"),
            env_mode=dict(type="str"),
            env_group=dict(type="str"),
            strict_env=dict(type="bool", default=False),
            shared=dict(type="path"),
            link_shared=dict(type="list", elements="str", default=[]),
            python=dict(type="str"),
            trust=dict(type="list", elements="str", default=[]),
            force=dict(type="bool", default=False),
            installer=dict(type="str", choices=["native", "pip"]),
            wait=dict(type="bool", default=False),
            rollback=dict(type="path"),
            to=dict(type="str"),
        ),
        required_one_of=[("dest", "rollback")],
        mutually_exclusive=[("rollback", "dest"), ("rollback", "artifact")],
        required_by={"dest": "artifact", "to": "rollback", "digest": "dest"},
        supports_check_mode=True,
    )
    p = module.params
    if p["keep"] is not None and p["keep"] < 1:
        module.fail_json(msg="keep must be 1 or more (the release just installed is always kept)")

    if p["rollback"]:
        argv = rollback_argv(module, p["rollback"], p)
    elif os.path.exists(p["artifact"]):
        argv = [p["artifact"], "-d", p["dest"]] + flags(p, DEPLOY_FLAGS)
    elif already_installed(p):
        argv = installed_argv(module, p)
    elif module.check_mode:
        # An earlier copy task ran in check mode and copied nothing: say what would happen.
        module.exit_json(changed=True, actions=["installed"], rc=0, stderr="",
                         msg="%s is not on the host (check mode): it would be installed" % p["artifact"])
    else:
        module.fail_json(msg="the artifact %s is not on the host: copy it there first" % p["artifact"], rc=2)

    argv.append("--json")
    if module.check_mode:
        argv.append("--dry-run")
    result, stderr = run_stub(module, argv)
    module.exit_json(
        changed=bool(result.get("changed", True)),
        receipt=result,
        actions=result.get("actions", []),
        activated=result.get("activated"),
        pruned=result.get("pruned", []),
        rc=0,
        stderr=stderr,
    )


if __name__ == "__main__":
    main()
