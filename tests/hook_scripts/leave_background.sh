#!/bin/sh
# Test hook: exit 0 at once but leave a background child holding stdout open; its pid goes to $1.
sleep 300 &
echo "$!" > "$1"
exit 0
