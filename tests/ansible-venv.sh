#!/usr/bin/env bash
# The Ansible that the fleet test (tests/e2e/ansible.rs) and bench/fleet.sh drive: the full
# `ansible` package (ansible-core alone lacks community.general, whose `chroot` connection
# turns a debootstrap root into a host). Prints the venv's path. (.ci/run runs it; so does the
# test when the venv is missing.)
exec bash "$(dirname "$0")/tool-venv.sh" ansible 12.3.0
