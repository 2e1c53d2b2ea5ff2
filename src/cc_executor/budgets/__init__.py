"""Agent budgets: caps on what a run (or a group of runs) may spend, the meter that reads spending off the
stream as it arrives, and the store that adds it up across the jobs of a budget group."""
