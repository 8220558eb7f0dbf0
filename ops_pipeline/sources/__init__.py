"""Where the pipeline gets its input files from."""
