"""Default deny and cumulative roles in stillwatch.security.permissions."""

from __future__ import annotations

import pytest

from stillwatch.api.deps import Require
from stillwatch.exceptions import PermissionDeniedError
from stillwatch.security.permissions import ACTIONS, GRANTS, ROLES, Actor, check, is_allowed, permissions_of


def test_default_deny():
    assert not is_allowed(None, "case.view")
    assert not is_allowed("superuser", "case.view")
    assert not is_allowed("admin", "case.delete_everything")
    assert permissions_of("nobody") == []
    with pytest.raises(PermissionDeniedError, match="may not"):
        check(Actor("x", "viewer"), "case.decide")


def test_roles_are_cumulative_and_only_grant_known_actions():
    for lower, higher in zip(ROLES, ROLES[1:], strict=False):
        assert GRANTS[lower] < GRANTS[higher]
    assert set().union(*GRANTS.values()) <= set(ACTIONS)
    assert set(GRANTS["admin"]) == set(ACTIONS)


def test_sensitive_actions_are_not_for_viewers():
    for action in ("prompt.view", "report.reporter", "audit.view", "user.manage", "action.create_severe"):
        assert not is_allowed("viewer", action)
    assert not is_allowed("analyst", "action.create_severe") and is_allowed("lead", "action.create_severe")


def test_require_refuses_unknown_actions():
    with pytest.raises(ValueError, match="unknown action"):
        Require("case.teleport")
