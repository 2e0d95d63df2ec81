"""The ``runner`` command: flags in, one library call, dbt's exit codes out (``main``); the
smaller commands (synth, export, debug) are in ``commands``."""
