"""hotlists."""
