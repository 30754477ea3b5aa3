"""Fit constants to observed time series: payoff, global fit, posterior."""
