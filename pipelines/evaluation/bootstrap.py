"""The eval's intervals are the training gate's: one paired bootstrap (training/bootstrap.py) for both."""

from training.bootstrap import Interval, mean_interval, paired_difference

__all__ = ["Interval", "mean_interval", "paired_difference"]
