"""Small helpers every room may use (they import nothing of linkedout): atomic file writes."""
