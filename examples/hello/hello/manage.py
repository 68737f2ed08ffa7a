#!/usr/bin/env python
"""Operator commands, run with the release's venv: DEST/venv/bin/python DEST/hello/manage.py greet"""
import sys

import hello

if __name__ == "__main__":
    if sys.argv[1:] == ["greet"]:
        print(hello.greeting())
    else:
        sys.exit("usage: manage.py greet")
