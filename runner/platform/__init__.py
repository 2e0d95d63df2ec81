"""The Adobe Experience Platform client: credentials (``credentials``), IMS tokens and the REST
session with retries (``client``), and the masking of secrets everywhere (``secrets``)."""
