"""Law as code: jurisdiction profiles as data, and the pure decisions that enforce them.

Every consultation of reads (search, image view, export) passes through here, in one place:

- :mod:`kruispunt.law.profiles` loads the jurisdiction profiles from the packaged data file
  ``kruispunt/data/jurisdictions.toml``: retention limits, access tiers by age of the data, the
  purposes each tier allows and the authorisation it needs, case-number formats and the caps
  of a wide search. Each rule names its legal source. A bad file fails loudly at load.
- :mod:`kruispunt.law.purpose` holds the enumerated purposes, checks case numbers against the
  profile's formats and refuses vague free-text reasons.
- :mod:`kruispunt.law.decide` turns a query (purpose, period, authorisations, scope) into the
  time windows it may read, and says what was cut and what would be needed to open it.

Nothing here does I/O apart from reading the packaged data file, and nothing knows about HTTP
or a database: a store query reads only inside the windows ``allowed_windows`` returns, so no
row past a tier comes back without the authorisation that tier requires.
"""
