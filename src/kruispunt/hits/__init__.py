"""hits."""
