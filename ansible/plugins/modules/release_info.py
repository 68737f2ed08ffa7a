#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: wheelsfx contributors
# MIT License (see the repository's LICENSE)

from __future__ import annotations

DOCUMENTATION = r"""
module: release_info
short_description: The wheelsfx releases on a host, from their receipts
description:
  - Reads C(.wheelsfx/receipt.json) of every directory in I(releases) and returns them, oldest
    first, with which one I(link) points to.
  - With I(digest), also returns the complete releases of that artifact, so a play can skip
    copying an artifact the host already has.
version_added: 0.1.0
author:
  - wheelsfx contributors (@wheelsfx)
options:
  releases:
    description: The directory holding one directory per release, for example C(/srv/mysite/releases).
    type: path
    required: true
  link:
    description: The symlink naming the active release, for example C(/srv/mysite/current).
    type: path
  digest:
    description: An artifact's digest (C(artifact_digest) from M(wheelsfx.deploy.artifact_info)).
    type: str
extends_documentation_fragment:
  - wheelsfx.deploy.read_only
seealso:
  - module: wheelsfx.deploy.artifact_info
  - module: wheelsfx.deploy.release
"""

EXAMPLES = r"""
- name: Releases on the host
  wheelsfx.deploy.release_info:
    releases: /srv/mysite/releases
    link: /srv/mysite/current
    digest: "{{ artifact.artifact_digest }}"
  register: on_host

- name: Copy the artifact unless release 42 of it is already complete
  ansible.builtin.copy:
    src: dist/mysite.sfx
    dest: /srv/mysite/mysite.sfx
    mode: "0700"
  when: "'42' not in on_host.matching"
"""

RETURN = r"""
releases:
  description:
    - Every directory in I(releases) (hidden ones, which are a stub's work in progress, left
      out), oldest first by C(installed_at), then by name.
    - C(state) is the receipt's (C(complete), C(hooks-pending), C(hooks-failed)), or null
      without a readable receipt (not a wheelsfx release).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The directory's name.
      type: str
    path:
      description: Its full path.
      type: str
    state:
      description: The receipt's state.
      type: str
    complete:
      description: Whether it can be activated, rolled back to and counted by keep.
      type: bool
    active:
      description: Whether I(link) points to it.
      type: bool
    artifact_digest:
      description: The digest of the artifact it was installed from.
      type: str
    build_id:
      description: The artifact's build id.
      type: str
    installed_at:
      description: Unix time of the install.
      type: int
    receipt:
      description: The whole receipt (null without one).
      type: dict
current:
  description: The name of the release I(link) points to, or null (no link, or it points elsewhere).
  returned: always
  type: str
matching:
  description: Names of the complete releases installed from the artifact with I(digest).
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.wheelsfx.deploy.plugins.module_utils.stub import is_complete, read_receipt


def active_release(releases, link):
    """The name of the directory in `releases` that `link` resolves to, if any."""
    if not link or not os.path.islink(link):
        return None
    target = os.path.realpath(link)
    if os.path.dirname(target) != os.path.realpath(releases):
        return None
    return os.path.basename(target)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            releases=dict(type="path", required=True),
            link=dict(type="path"),
            digest=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    releases_dir, digest = module.params["releases"], module.params["digest"]
    current = active_release(releases_dir, module.params["link"])
    names = sorted(os.listdir(releases_dir)) if os.path.isdir(releases_dir) else []
    releases = []
    for name in names:
        path = os.path.join(releases_dir, name)
        if name.startswith(".") or not os.path.isdir(path) or os.path.islink(path):
            continue
        receipt = read_receipt(path)
        releases.append(
            dict(
                name=name,
                path=path,
                state=receipt.get("state", "complete") if receipt else None,
                complete=is_complete(receipt),
                active=name == current,
                artifact_digest=(receipt or {}).get("artifact_digest"),
                build_id=(receipt or {}).get("build_id"),
                installed_at=(receipt or {}).get("installed_at"),
                receipt=receipt,
            )
        )
    releases.sort(key=lambda r: (r["installed_at"] or 0, r["name"]))
    module.exit_json(
        changed=False,
        releases=releases,
        current=current,
        matching=[r["name"] for r in releases if digest and r["complete"] and r["artifact_digest"] == digest],
    )


if __name__ == "__main__":
    main()
