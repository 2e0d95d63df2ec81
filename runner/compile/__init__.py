"""Stage 3, compiling: ``compiler`` turns the selected models into a ``plan.Plan`` (physical
names, fingerprints, target SQL), through the Spark-faithful ``dialect`` layer."""
