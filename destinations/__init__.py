"""Export a built dataset to where the user's ML environment reads it."""
