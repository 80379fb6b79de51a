"""The complaint and feedback portal.

`create_app` lives in portal.app; it is exposed here lazily so that importing the pure domain
(`portal.domain`) never loads Flask or SQLAlchemy.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from portal.app import create_app

        return create_app
    raise AttributeError(name)
