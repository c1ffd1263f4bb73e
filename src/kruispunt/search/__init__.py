"""Investigation: search the reads and link facts to vehicles.

Pure parts (no I/O): ``patterns`` (exact and partial plates, confusable characters, the index
plan of a plate query), ``area`` (a drawn area to cameras), ``journey`` (reads to legs with
distances and average speeds), ``convoy`` and ``multisite`` (rankings). ``queries`` reads the
store on both engines, bounded; ``service`` puts every query through the access gate and the
audit; ``export`` writes CSV, GeoJSON and evidence packages.
"""
