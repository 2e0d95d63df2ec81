"""Stage 2, the graph: the DAG of models and sources (``dag``, which knows nothing of SQL), dbt's
selection grammar over it (``selection``) and its pictures (``render``)."""
