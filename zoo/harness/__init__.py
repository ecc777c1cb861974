"""Measurement harnesses: speed (speed.py), accuracy (evaluate.py), training (train/), studies."""
