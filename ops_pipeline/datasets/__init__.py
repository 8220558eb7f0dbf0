"""The kinds of input file: one module per dataset, found by :mod:`.registry` (never imported by name)."""
