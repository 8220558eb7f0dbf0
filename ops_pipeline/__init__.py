"""ops-pipeline: gets budget spreadsheets and legacy MAPS exports into the OPS database."""

__version__ = "0.1.0"
