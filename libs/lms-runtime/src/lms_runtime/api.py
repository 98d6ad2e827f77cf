"""The HTTP contract every service's API keeps: inputs bounded to what PostgreSQL stores, every status
code a route can answer documented in its OpenAPI with a JSON body, and 405 answers with `Allow`.

A fuzzer driven by the services' own OpenAPI documents found 500s for integers beyond PostgreSQL's
INTEGER (`?offset=486993434422448215952457728`, `/enrollments/782582276158284824647303168/withdraw`)
and answers the documents did not list (404, 409, 400). The bounds live here, once, as Annotated
types a service uses for its path, query and body fields: the OpenAPI then says `minimum`/`maximum`
and FastAPI answers 422 before the database is asked. create_app documents the errors the runtime
itself answers (document_common_errors) and completes 405 answers (method_not_allowed).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Annotated, Any

import fastapi.routing
from annotated_types import Ge, Le
from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, StringConstraints
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Match

INT4_MAX = 2**31 - 1  # PostgreSQL INTEGER (and SERIAL / identity ids): -2^31 .. 2^31-1
MAX_PAGE = 100

# annotated_types constraints rather than fastapi.Query/Path or pydantic.Field: the same type then
# serves a path parameter, a query parameter and a body field alike (FastAPI picks where it is read
# from by the parameter's name), and pydantic puts the bounds in the OpenAPI schema.
Id = Annotated[int, Ge(1), Le(INT4_MAX)]
"""A row id: an INTEGER primary key (1 .. 2^31-1). Larger ids do not exist; they answer 422."""
Offset = Annotated[int, Ge(0), Le(INT4_MAX)]
"""How many rows a page skips: no table with INTEGER ids holds more rows than that."""
Limit = Annotated[int, Ge(1), Le(MAX_PAGE)]
"""How many rows a page holds at most."""

# PostgreSQL text cannot hold NUL: psycopg refuses it before sending, which was a 500.
NO_NUL = r"^[^\x00]*$"
Text = Annotated[str, StringConstraints(pattern=NO_NUL)]
"""A string PostgreSQL can store: no NUL character. Add lengths with Field()."""


class ErrorMessage(BaseModel):
    """The body of every error the services answer themselves (404, 409, 400, 503, 405, ...)."""

    detail: str


DESCRIPTIONS = {
    400: "The request body could not be read (not UTF-8 text)",
    404: "Not found",
    405: "Method not allowed; the Allow header lists the methods of this path",
    409: "Conflict with the current state",
    503: "A dependency is unavailable (the database, another service); nothing was changed; retry shortly",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status code it answers itself, with the JSON error body."""
    return {code: {"model": ErrorMessage, "description": DESCRIPTIONS.get(code, "Error")} for code in codes}


def _routes(routes: Iterable[BaseRoute]) -> Iterator[Any]:
    """Every route as it is served: its full path, methods, dependencies. FastAPI 0.165 keeps an
    included router as one route (`_IncludedRouter`) and lists its routes, prefixed, through
    `iter_route_contexts`; earlier versions copied them into the app's own list."""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)
    yield from routes if iterate is None else iterate(list(routes))


def _uses(route: Any, calls: frozenset[Callable[..., Any]]) -> bool:
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        if dependant.call in calls:
            return True
        pending.extend(dependant.dependencies)
    return False


def _common_errors(route: Any, database: frozenset[Callable[..., Any]]) -> list[int]:
    """The status codes the runtime answers for this route, whatever the service's code does."""
    codes = []
    if route.body_field is not None:
        codes.append(400)  # FastAPI: a body that is not UTF-8 (before JSON parsing, so not a 422)
    if _uses(route, database):
        codes.append(503)  # lms_runtime.db: the database unavailable, or read-only for a restore
    return codes


def document_common_errors(app: FastAPI, database: Iterable[Callable[..., Any]] = ()) -> None:
    """Add to app's OpenAPI the errors every route answers through the runtime, not its own code.

    database: the dependencies that open a database connection (lms_runtime.db); a route that
    depends on one, however deep, answers 503 while the database is unavailable. Done on the
    generated document, once: a route's responses are compiled when the route is made."""
    calls = frozenset(database)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = generate()  # FastAPI's own document, which it keeps in app.openapi_schema
        added = False
        for route in _routes(app.routes):
            if not isinstance(getattr(route, "dependant", None), Dependant) or not route.include_in_schema:
                continue  # not an API route (the docs' own routes, mounts)
            for method in route.methods:
                responses = document["paths"][route.path_format][method.lower()]["responses"]
                for code in _common_errors(route, calls):
                    if str(code) not in responses:
                        responses[str(code)] = _response(code)
                        added = True
        if added:
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas.setdefault("ErrorMessage", ErrorMessage.model_json_schema())
        return document

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to change it


def _response(code: int) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/ErrorMessage"}
    return {"description": DESCRIPTIONS[code], "content": {"application/json": {"schema": schema}}}


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    """HTTP errors as FastAPI answers them, except that a 405 lists every method of its path in
    `Allow`: Starlette names only the methods of the first route whose path matched (GET /courses and
    POST /courses are two routes), so `Allow: POST` told a client GET was not allowed either."""
    assert isinstance(exc, StarletteHTTPException)  # registered for it alone
    if exc.status_code != 405:
        return await http_exception_handler(request, exc)
    allowed: set[str] = set()
    for route in _routes(request.app.router.routes):
        methods = getattr(route, "methods", None)
        if methods and route.matches(request.scope)[0] != Match.NONE:
            allowed |= methods
    headers = {**(exc.headers or {}), "Allow": ", ".join(sorted(allowed))}
    return JSONResponse({"detail": exc.detail}, status_code=405, headers=headers)


async def validation_error(request: Request, exc: Exception) -> Response:
    """422 as FastAPI answers it, in ASCII JSON: FastAPI echoes the invalid input, and a lone
    surrogate (which JSON can spell, "\\ud800", and pydantic refuses) cannot be encoded as UTF-8, so
    its own handler failed with a 500 while answering the 422."""
    assert isinstance(exc, RequestValidationError)  # registered for it alone
    body = json.dumps({"detail": jsonable_encoder(exc.errors())}, allow_nan=False, separators=(",", ":"))
    return Response(body, status_code=422, media_type="application/json")
