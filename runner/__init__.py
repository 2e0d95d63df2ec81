"""A dbt-style SQL feature-project runner for Adobe Experience Platform Data Distiller."""
