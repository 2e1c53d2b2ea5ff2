#!/bin/sh
# Test hook: take $1 seconds, then allow.
cat >/dev/null
sleep "$1"
echo "slept $1"
