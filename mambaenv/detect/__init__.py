"""Detection of the host machine and of a target Python environment, as plain data."""
