"""Every detector in ``stillwatch.detect`` (including other engineers' modules, e.g. jailbreak)
passes the shared contract checks."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import stillwatch.detect as detect_pkg
from stillwatch.detect.base import Detector
from stillwatch.detect.checks import check_detector
from stillwatch.detect.distillation import DistillationDetector
from stillwatch.detect.relay import RelayDetector
from stillwatch.detect.subrouting import SubroutingDetector
from stillwatch.detect.subsidiary import SubsidiaryDetector


def _all_detectors() -> list[type[Detector]]:
    found: dict[str, type[Detector]] = {}
    for mod in pkgutil.iter_modules(detect_pkg.__path__):
        try:
            module = importlib.import_module(f"stillwatch.detect.{mod.name}")
        except ImportError:  # another engineer's module with an optional dependency
            continue
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, Detector) and obj is not Detector and not inspect.isabstract(obj):
                found[f"{obj.__module__}.{obj.__name__}"] = obj
    return [found[k] for k in sorted(found)]


ALL = _all_detectors()


def test_discovery_finds_the_account_detectors() -> None:
    names = {c.__name__ for c in ALL}
    assert {"RelayDetector", "SubroutingDetector", "SubsidiaryDetector", "DistillationDetector"} <= names


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_detector_contract(cls: type[Detector]) -> None:
    check_detector(cls())


@pytest.mark.parametrize("cls", [RelayDetector, SubroutingDetector, SubsidiaryDetector, DistillationDetector])
def test_params_are_recorded_with_version_and_status(cls: type[Detector]) -> None:
    desc = cls().describe()
    assert desc["name"] == cls.name and desc["version"] == cls.version
    assert desc["params"] == cls().get_params() and desc["params"]
    assert cls.status in ("shadow", "test", "stable", "deprecated")
