#!/bin/sh
# Test hook: fail without meaning to block (exit 1).
cat >/dev/null
echo "boom: something broke" >&2
exit 1
