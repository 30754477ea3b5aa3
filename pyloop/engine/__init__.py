"""The engines: PySD (translation, safety checks, the cache, runs), the vectorised
PySD runner, Simlin for cross-checks, and the one visitor over equations.
The only package that imports PySD or pysimlin."""
