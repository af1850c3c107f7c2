"""Audits: coverage and bias figures computed from the data, per-subgroup model evaluation, dataset separability."""
