"""Shared logic of the training and evaluation scripts: arguments, data, model set-up, metrics, model cards."""
