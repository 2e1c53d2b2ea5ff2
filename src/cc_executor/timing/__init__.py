"""Timeouts learned from history: run records and their stores, classification, estimator, load monitor."""

from cc_executor.timing.classify import (
    Category,
    Classifier,
    ClassifierRegistry,
    RunContext,
    classify,
    register_classifier,
)
from cc_executor.timing.estimator import Estimate, TimeoutEstimator
from cc_executor.timing.history import HistoryStore, RunRecord, open_history_store
from cc_executor.timing.resource_monitor import LoadMark, ResourceMonitor, load_multiplier, mean_multiplier
from cc_executor.timing.settings import TimingSettings

__all__ = [
    "Category",
    "Classifier",
    "ClassifierRegistry",
    "Estimate",
    "HistoryStore",
    "LoadMark",
    "ResourceMonitor",
    "RunContext",
    "RunRecord",
    "TimeoutEstimator",
    "TimingSettings",
    "classify",
    "load_multiplier",
    "mean_multiplier",
    "open_history_store",
    "register_classifier",
]
