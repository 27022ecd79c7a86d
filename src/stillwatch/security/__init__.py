"""Security primitives shared by the API, the console and the CLI: permissions, tokens."""

from stillwatch.security.permissions import ACTIONS, ROLES, Actor, check, is_allowed, permissions_of

__all__ = ["ACTIONS", "ROLES", "Actor", "check", "is_allowed", "permissions_of"]
