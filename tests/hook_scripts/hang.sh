#!/bin/sh
# Test hook: start a background child that ignores SIGTERM, record both pids in $1, then hang.
(trap '' TERM; exec sleep 300) &
echo "$! $$" > "$1"
sleep 300
