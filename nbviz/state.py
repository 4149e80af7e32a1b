"""The errors a bad change of the Explorer's state raises.

They are traitlets' ``TraitError`` (so that a change made inside ``hold_trait_notifications``, as
``Explorer.navigate`` makes them, is rolled back whole) and also the ValueError or TypeError of nbviz's public
error vocabulary (so ``pytest.raises(ValueError)`` and ``except ValueError`` keep working).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import traitlets

T = TypeVar("T")


class InvalidValue(traitlets.TraitError, ValueError):
    """A state value of the right type that is not allowed (an unknown layer, a sample out of range)."""


class InvalidType(traitlets.TraitError, TypeError):
    """A state value of the wrong type."""


def checked(check: Callable[[Any], T], value: Any) -> T:
    """``check(value)``, with its TypeError or ValueError raised again as :class:`InvalidType` or
    :class:`InvalidValue` (same message)."""
    try:
        return check(value)
    except traitlets.TraitError:
        raise
    except TypeError as err:
        raise InvalidType(str(err)) from None
    except ValueError as err:
        raise InvalidValue(str(err)) from None
