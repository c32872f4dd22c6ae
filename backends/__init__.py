"""Service backends: the sandbox implementations that stand in for the district's systems."""
