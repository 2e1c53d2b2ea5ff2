#!/bin/sh
# Test hook: refuse every command with exit 2 and a reason on stderr.
cat >/dev/null
echo "some chatter on stdout"
echo "  dangerous command refused by policy  " >&2
exit 2
