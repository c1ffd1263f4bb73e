"""Transparency and oversight: figures per period and zone, and an abuse review.

``transparency`` and ``abuse`` are pure over records already read; ``source`` reads them from
the store; ``service`` decides who may read which report, builds it and audits the reading;
``html`` renders the printable pages.
"""
