"""The verdict on a change, shared by `status` and `compare` (not a plugin): the validation jobs' test reports
(`reports`), and what differs between two output trees (`trees` walks them, `differ` says what changed)."""
