"""The sources a build reads: made where the engine can make them (synthetic XDM data from
``synth``, views over files) and versioned so new data rebuilds what reads it (``prepare``)."""
