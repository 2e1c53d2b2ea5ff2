#!/usr/bin/env python3
"""Test hook: append the event read on stdin to RECORD_FILE (argv[1]), then print ANSWER (argv[2]) if given."""

import sys

event = sys.stdin.read()
with open(sys.argv[1], "a", encoding="utf-8") as fh:
    fh.write(event.strip() + "\n")
if len(sys.argv) > 2:
    print(sys.argv[2])
