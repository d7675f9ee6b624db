"""HTTP surfaces: one module each (jobs, files, health)."""
