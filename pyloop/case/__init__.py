"""The case study the toolkit ships with, kept apart from the generic code."""
