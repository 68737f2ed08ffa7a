# -*- coding: utf-8 -*-
# MIT License (see the repository's LICENSE)
"""The attributes of the collection's modules that only read (artifact_info, release_info)."""


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
attributes:
  check_mode:
    support: full
    description: Runs in check mode, reporting what it would do.
    details: It only reads.
  diff_mode:
    support: none
    description: Shows no diff.
"""
