#!/bin/sh
# Test hook: print something that looks like JSON but is not.
cat >/dev/null
echo '{"decision": "block", "reason": '
