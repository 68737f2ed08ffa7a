#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: wheelsfx contributors
# MIT License (see the repository's LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
module: artifact_info
short_description: What a wheelsfx artifact holds, from the artifact itself
description:
  - Runs C(ARTIFACT --inspect --json), which checks the artifact's digest and prints its
    manifest, and returns the app name, build id and the artifact's digest.
  - Usually run on the controller (C(delegate_to=localhost), C(run_once=true)) before
    copying the artifact anywhere. The digest tells M(wheelsfx.deploy.release_info) whether a
    host already has this release, so the copy can be skipped.
version_added: 0.1.0
author:
  - wheelsfx contributors (@wheelsfx)
options:
  path:
    description:
      - The artifact. It must be executable, and the machine running this module Linux x86_64
        (the stub inside every artifact is a static Linux executable).
    type: path
    required: true
extends_documentation_fragment:
  - wheelsfx.deploy.read_only
seealso:
  - module: wheelsfx.deploy.release_info
  - module: wheelsfx.deploy.release
"""

EXAMPLES = r"""
- name: Read the artifact on the controller
  wheelsfx.deploy.artifact_info:
    path: "{{ playbook_dir }}/dist/mysite.sfx"
  delegate_to: localhost
  become: false
  run_once: true
  register: artifact
"""

RETURN = r"""
artifact_digest:
  description: The sha256 hex digest the artifact ends with (over the whole file); a release's receipt records the same value.
  returned: success
  type: str
app:
  description: The app's name (the release's C(<app>) directory).
  returned: success
  type: str
build_id:
  description: The build id given to C(wheelsfx build), or null.
  returned: success
  type: str
manifest:
  description: Everything C(--inspect --json) printed (the manifest, C(signature), C(artifact_digest)).
  returned: success
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.wheelsfx.deploy.plugins.module_utils.stub import run_stub


def main():
    module = AnsibleModule(argument_spec=dict(path=dict(type="path", required=True)), supports_check_mode=True)
    path = module.params["path"]
    if not os.path.isfile(path):
        module.fail_json(msg="%s: no such artifact" % path)
    if not os.access(path, os.X_OK):
        module.fail_json(msg="%s is not executable: chmod +x it" % path)
    manifest, _ = run_stub(module, [path, "--inspect", "--json"])
    module.exit_json(
        changed=False,
        artifact_digest=manifest["artifact_digest"],
        app=manifest["app"]["name"],
        build_id=manifest["app"].get("build_id"),
        manifest=manifest,
    )


if __name__ == "__main__":
    main()
