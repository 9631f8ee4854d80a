"""Argument types shared by the commands: a count must be a positive integer, said clearly."""

from __future__ import annotations

import argparse


__all__ = ["positive_int", "positive_seconds"]


def positive_int(text: str) -> int:
    """An integer >= 1 (``--batch-size 0`` would loop forever; a negative one is a SQL error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {value}")
    return value


def positive_seconds(text: str) -> float:
    """A duration in seconds > 0, finite."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return value
