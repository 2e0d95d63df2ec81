"""Stage 1, loading the project: project.yml (``config``), model files (``model``, parsed by
``parsing``), macros (``macros``), and ``loader.load``, which expands them and builds the DAG."""
