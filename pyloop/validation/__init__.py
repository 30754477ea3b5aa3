"""Checks of a model: quality findings and calibration checks."""
