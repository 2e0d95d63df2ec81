"""Stage 4, running: a ``session`` binds the project to a target and compiles its plan; ``build``
runs it over the DAG (``scheduler``) through the ``materialize`` strategies, records ``state``,
runs the ``exports`` and writes the ``artifacts``."""
