"""Command policy: the allow-list (every program a shell text would run) and the deny-list."""
