"""Small helpers every room may use (they import nothing of linkedout): atomic file writes, canonical JSON and content hashes (as ts/util/fs.ts)."""
