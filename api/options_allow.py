"""OPTIONS answers list every method of their path (Litestar's own `Allow` may miss some).

Litestar builds the automatic OPTIONS handler with the first handler registered on a path
and keeps it when later handlers (DELETE beside GET on /items/{id}) merge into a new route,
so `Allow` named only the methods known at that moment. `fix_options_allow` points every
such handler at the route that finally holds the path.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.routes import HTTPRoute


def fix_options_allow(app: Litestar) -> None:
    """Make each automatic OPTIONS handler answer with its final route's methods."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            fn = getattr(handler.fn, "__wrapped__", handler.fn)
            code = getattr(fn, "__code__", None)
            if (
                handler.http_methods != {"OPTIONS"}
                or code is None
                or fn.__name__ != "options_handler"
            ):
                continue
            for name, cell in zip(code.co_freevars, fn.__closure__ or (), strict=True):
                if name == "self" and isinstance(cell.cell_contents, HTTPRoute):
                    cell.cell_contents = route
