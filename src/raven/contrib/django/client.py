"""``DjangoClient``: a client that reports the Django request, user, route and template error."""

from __future__ import annotations

import asyncio
import json
import logging
import time

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import HttpRequest, QueryDict
from django.template import TemplateSyntaxError
from django.template.base import Origin
from django.utils.functional import LazyObject, empty

from raven import breadcrumbs
from raven.base import Client
from raven.breadcrumbs import _suppressed
from raven.contrib.django.middleware import current_request
from raven.contrib.django.resolver import RouteResolver
from raven.contrib.django.utils import get_data_from_template, get_host
from raven.exceptions import ConfigurationError
from raven.utils import once
from raven.utils.wsgi import get_client_ip, get_environ, get_headers

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs ~8 ms at start-up; only type checkers need it
    from typing import Any, Dict, List, Optional, Tuple

__all__ = ["DjangoClient", "format_sql", "install_sql_hook", "is_authenticated", "record_sql"]

_debug_logger = logging.getLogger("raven.contrib.django")

#: longest string parameter shown in an SQL breadcrumb
_SQL_PARAM_MAX = 256
#: executemany() records at most this many statements (the breadcrumb buffer keeps 100)
_SQL_MANY_MAX = 100

_FORM_TYPE = "application/x-www-form-urlencoded"
_MULTIPART_TYPE = "multipart/form-data"
UNAVAILABLE = "<unavailable>"
_MISSING: Any = object()


# -- SQL breadcrumbs -----------------------------------------------------------------------------


class _FormatConverter:
    """Turns ``%(name)s`` placeholders into ``%s``, remembering the parameters in order."""

    def __init__(self, param_mapping: Dict[Any, Any]) -> None:
        self.param_mapping = param_mapping
        self.params: List[Any] = []

    def __getitem__(self, val: Any) -> str:
        self.params.append(self.param_mapping.get(val))
        return "%s"


def format_sql(sql: Any, params: Any) -> Tuple[Any, List[str]]:
    """``(sql, [parameter as SQL text])``: strings quoted (``'`` doubled, cut at 256), None as NULL.

    Dict parameters (``%(name)s`` placeholders) come back in placeholder order, with the
    placeholders turned into ``%s``.
    """
    rv: List[str] = []
    if isinstance(params, dict):
        conv = _FormatConverter(params)
        if params:
            sql = sql % conv
            params = conv.params
        else:
            params = ()
    for param in params or ():
        if param is None:
            rv.append("NULL")
        elif isinstance(param, (str, bytes)):
            if isinstance(param, bytes):
                param = param.decode("utf-8", "replace")
            if len(param) > _SQL_PARAM_MAX:
                param = param[:_SQL_PARAM_MAX] + "\u2026"
            rv.append("'%s'" % param.replace("'", "''"))
        else:
            rv.append(repr(param))
    return sql, rv


def record_sql(
    vendor: Any, alias: Any, start: float, duration: float, sql: Any, params: Any
) -> None:
    """Record a query as a breadcrumb (category ``query``); it is formatted only if sent."""

    def processor(data: Dict[str, Any]) -> None:
        try:
            real_sql, real_params = format_sql(sql, params)
            if real_params:
                real_sql = real_sql % tuple(real_params)
        except (TypeError, ValueError, KeyError):  # a statement that is not %-formatted
            real_sql = sql
        if isinstance(real_sql, bytes):
            real_sql = real_sql.decode("utf-8", "replace")
        elif not isinstance(real_sql, str):
            real_sql = str(real_sql)  # e.g. psycopg's sql.Composed
        data.update({"message": real_sql, "category": "query"})

    breadcrumbs.record(processor=processor)


def _record_many(vendor: Any, alias: Any, start: float, sql: Any, param_list: Any) -> None:
    duration = time.time() - start
    if not isinstance(param_list, (list, tuple)):
        return  # an iterator, consumed by the query
    for params in param_list[-_SQL_MANY_MAX:]:
        record_sql(vendor, alias, start, duration, sql, params)


@once
def install_sql_hook() -> None:
    """Record every query Django runs as a breadcrumb (patches ``CursorWrapper``, once)."""
    from django.db.backends.utils import CursorWrapper

    real_execute = CursorWrapper.execute
    real_executemany = CursorWrapper.executemany

    def execute(self: Any, sql: Any, params: Any = None) -> Any:
        start = time.time()
        try:
            return real_execute(self, sql, params)
        finally:
            try:
                record_sql(
                    self.db.vendor,
                    getattr(self.db, "alias", None),
                    start,
                    time.time() - start,
                    sql,
                    params,
                )
            except Exception:
                _debug_logger.debug("failed to record a query breadcrumb", exc_info=True)

    def executemany(self: Any, sql: Any, param_list: Any) -> Any:
        start = time.time()
        try:
            return real_executemany(self, sql, param_list)
        finally:
            try:
                _record_many(
                    self.db.vendor, getattr(self.db, "alias", None), start, sql, param_list
                )
            except Exception:
                _debug_logger.debug("failed to record query breadcrumbs", exc_info=True)

    CursorWrapper.execute = execute
    CursorWrapper.executemany = executemany
    # the debug cursor logs each query there too: one crumb per query is enough
    breadcrumbs.ignore_logger("django.db.backends")


# -- users ----------------------------------------------------------------------------------------


def is_authenticated(request_user: Any) -> bool:
    """``user.is_authenticated``, a method before Django 1.10 and a property since."""
    if callable(request_user.is_authenticated):
        return bool(request_user.is_authenticated())
    return bool(request_user.is_authenticated)


def _loop_running() -> bool:
    return asyncio._get_running_loop() is not None


def _loaded_user(request: Any) -> Any:
    """``request.user``, unless reading it would query the database on an event loop.

    ``AuthenticationMiddleware`` sets a lazy user that loads itself on first use; in async
    code that query raises ``SynchronousOnlyOperation``. A user an async view already
    loaded (``await request.auser()``) is used instead.
    """
    user = getattr(request, "user", None)
    if isinstance(user, LazyObject) and user._wrapped is empty:
        attrs = request.__dict__
        for cached in ("_cached_user", "_acached_user"):
            if attrs.get(cached) is not None:
                return attrs[cached]
        if _loop_running():
            return None
    return user


class _NoCrumbs:
    """Queries raven makes while building an event (user, site) are not the app's crumbs."""

    __slots__ = ("token",)

    def __enter__(self) -> None:
        self.token = _suppressed.set(True)

    def __exit__(self, *exc_info: Any) -> None:
        _suppressed.reset(self.token)


# -- the client -----------------------------------------------------------------------------------


class DjangoClient(Client):
    """A :class:`raven.Client` for Django; ``raven.contrib.django.models.client`` is one.

    Every capture made during a request (the request passed as ``request=``, else the one
    ``SentryMiddleware`` is handling) carries:

    - ``request``: method, URL (without the query), query string, body (see
      :meth:`get_body_data`), cookies, headers and the server variables;
    - ``user``: the client address and, for an authenticated user, ``id``, ``email`` and
      ``username`` (fields set with ``user_context`` win);
    - ``transaction``: the matched route (``/items/{pk}/``);
    - for an error raised in a template, the ``template`` interface (file and lines) and the
      template path as culprit.

    ``django.*`` frames are never in-app, and ``request.sentry`` holds ``{'project_id', 'id'}``
    of the event. With ``django.contrib.sites`` installed and no ``site`` option, events are
    tagged with the current site's name.

    Args:
        install_sql_hook: record every query as a breadcrumb (default True).
        max_body_size: the largest request body, in bytes, that is read for reports
            (default 10 KiB; 0 never reads one).
        **options: the :class:`raven.Client` options.
    """

    logger = logging.getLogger("sentry.errors.client.django")

    #: request bodies up to this many bytes are read and reported
    max_body_size = 10 * 1024

    _resolver = RouteResolver()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        install_sql_hook = kwargs.pop("install_sql_hook", True)
        max_body_size = kwargs.pop("max_body_size", None)
        if max_body_size is not None:
            if type(max_body_size) is not int or max_body_size < 0:
                raise ConfigurationError(
                    "max_body_size must be a number of bytes (0 or more), got %r" % (max_body_size,)
                )
            self.max_body_size = max_body_size
        super().__init__(*args, **kwargs)
        if install_sql_hook:
            self.install_sql_hook()

    def install_sql_hook(self) -> None:
        install_sql_hook()

    # -- what a request contributes ---------------------------------------------------------------

    def get_user_info(self, request: Any) -> Dict[str, Any]:
        """The user interface: client address, plus id, email and username when logged in.

        Errors reading the user (a broken user model, a database error) leave out what could
        not be read. A user object instead of a request (raven before 6.4 took the user) gives
        the same without the address.
        """
        user_info: Dict[str, Any] = {}
        meta = getattr(request, "META", None)
        if meta is None and hasattr(request, "is_authenticated"):
            user, request = request, None
        else:
            user = _MISSING
            ip_address = get_client_ip(meta or {})
            if ip_address:
                user_info["ip_address"] = ip_address
        try:
            with _NoCrumbs():
                if user is _MISSING:
                    user = _loaded_user(request)
                if user is None or not is_authenticated(user):
                    return user_info
                user_info["id"] = user.pk
                if hasattr(user, "email"):
                    user_info["email"] = user.email
                if hasattr(user, "get_username"):
                    user_info["username"] = user.get_username()
                elif hasattr(user, "username"):
                    user_info["username"] = user.username
        except Exception:
            _debug_logger.debug("could not read the request's user", exc_info=True)
        return user_info

    def get_data_from_request(self, request: Any) -> Dict[str, Any]:
        """``{'user': ..., 'request': ...}`` for ``request``."""
        result: Dict[str, Any] = {}
        self.update_data_from_request(request, result)
        return result

    def update_data_from_request(self, request: Any, result: Dict[str, Any]) -> None:
        """Set ``result['request']``, and ``result['user']`` unless it is set already."""
        if "user" not in result:
            user_info = self.get_user_info(request)
            if user_info:
                result["user"] = user_info
        meta = request.META
        result["request"] = {
            "method": request.method,
            "url": self._url_of(request),
            "query_string": meta.get("QUERY_STRING"),
            "data": self.get_body_data(request),
            "cookies": dict(request.COOKIES),
            "headers": dict(get_headers(meta)),
            "env": dict(get_environ(meta)),
        }

    def _url_of(self, request: Any) -> str:
        try:
            url = request.build_absolute_uri()
        except SuspiciousOperation:  # a Host header not in ALLOWED_HOSTS: still worth a report
            scheme = "https" if request.is_secure() else "http"
            url = "%s://%s%s" % (scheme, get_host(request), request.path)
        return str(url).split("?", 1)[0]

    def get_body_data(self, request: Any) -> Any:
        """The request body as reported, without ever spoiling the view's own reads.

        None for GET and HEAD. A form (url-encoded or multipart the view has parsed) is a dict
        of its fields (uploaded files left out); JSON is parsed; other text is sent as text.
        The body is read only when nothing has consumed the stream, its length is declared
        and at most :attr:`max_body_size`, and it is not multipart: Django keeps what it read,
        so ``request.body``, ``request.POST`` and ``request.read()`` give the view the same
        bytes. Otherwise the body is ``'<unavailable>'``.

        .. versionadded:: 7.0
        """
        if request.method in ("GET", "HEAD"):
            return None
        media_type = str(request.META.get("CONTENT_TYPE") or "").split(";", 1)[0].strip().lower()
        attrs = request.__dict__
        if media_type in (_FORM_TYPE, _MULTIPART_TYPE) and "_post" in attrs:
            return _form_fields(request.POST)  # parsed already (by the view): reuse it
        body = attrs.get("_body")
        if body is None:
            if media_type == _MULTIPART_TYPE or attrs.get("_read_started", True):
                return UNAVAILABLE
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return UNAVAILABLE
            if length <= 0:
                chunked = "chunked" in str(request.META.get("HTTP_TRANSFER_ENCODING", "")).lower()
                return UNAVAILABLE if chunked else None
            if length > self.max_body_size:
                return UNAVAILABLE
            try:
                body = request.body
            except Exception:
                return UNAVAILABLE
        if not body:
            return None
        if len(body) > self.max_body_size:
            return UNAVAILABLE
        return _parse_body(body, media_type, request)

    def get_transaction_from_request(self, request: Any) -> str:
        """The route ``request`` matched (``/items/{pk}/``), else its path."""
        route = self._resolver.resolve_match(getattr(request, "resolver_match", None))
        if route is not None:
            return route
        return self._resolver.resolve(request.path_info, getattr(request, "urlconf", None))

    # -- building and capturing ----------------------------------------------------------------

    def build_msg(self, *args: Any, **kwargs: Any) -> Dict[str, Any]:
        data = super().build_msg(*args, **kwargs)
        if data is None:
            return data  # dropped by a processor
        for frame in self._iter_frames(data):
            module = frame.get("module") if isinstance(frame, dict) else None
            if module and module.startswith("django."):
                frame["in_app"] = False
        if not self.site and "site" not in data["tags"]:
            site = self._current_site()
            if site:
                data["tags"]["site"] = site
        return data

    def _current_site(self) -> Optional[str]:
        """``django.contrib.sites``' current site name or domain, else ``SITE_ID``."""
        if not settings.configured or "django.contrib.sites" not in settings.INSTALLED_APPS:
            return None
        site_id = getattr(settings, "SITE_ID", None)
        try:
            from django.contrib.sites.models import SITE_CACHE, Site

            site = SITE_CACHE.get(site_id) if site_id is not None else None
            if site is None and not _loop_running():  # a query on an event loop would raise
                with _NoCrumbs():
                    site = Site.objects.get_current()
            if site is not None:
                return str(site.name or site.domain)
        except Exception:
            _debug_logger.debug("could not read the current site", exc_info=True)
        return None if site_id is None else str(site_id)

    def capture(  # type: ignore[override]  # 6.10's signature: request second
        self, event_type: str, request: Any = None, **kwargs: Any
    ) -> Optional[str]:
        """Capture with the request's data (``request``, else the current request's)."""
        if not self.is_enabled():
            return None
        data = kwargs.get("data")
        if data is None:
            kwargs["data"] = data = {}
        if request is None:
            request = current_request()
        is_http_request = isinstance(request, HttpRequest)
        if is_http_request:
            try:
                self._add_request_data(request, data)
            except Exception:
                if self.raise_send_errors:
                    raise
                self.error_logger.error("Failed to read the Django request", exc_info=True)

        exc_info = kwargs.get("exc_info")
        if exc_info and exc_info is not True and len(exc_info) > 1:
            data.update(self._template_data(exc_info[1]))

        result = super().capture(event_type, **kwargs)
        if is_http_request and result:
            try:
                request.sentry = {
                    "project_id": data.get("project", self.remote.project),
                    "id": result,
                }
            except Exception:  # a request class that refuses attributes
                pass
        return result

    def _add_request_data(self, request: Any, data: Dict[str, Any]) -> None:
        if "request" in data:  # given by the caller (or by Sentry404CatchMiddleware)
            derived = {} if "user" in data else {"user": self.get_user_info(request)}
        else:
            derived = self.get_data_from_request(request)
        user = derived.pop("user", None)
        if user and "user" not in data:
            explicit = self.context.get("user")  # set with user_context(): it wins
            data["user"] = {**user, **explicit} if isinstance(explicit, dict) else user
        data.update(derived)
        if "transaction" not in data and "culprit" not in data and self.transaction.peek() is None:
            # without SentryMiddleware nothing pushed the route; Django has resolved it
            route = self._resolver.resolve_match(getattr(request, "resolver_match", None))
            if route is not None:
                data["transaction"] = route

    def _template_data(self, exc_value: Any) -> Dict[str, Any]:
        debug = getattr(exc_value, "template_debug", None)
        source = getattr(exc_value, "django_template_source", None)
        if source is None and isinstance(exc_value, TemplateSyntaxError):
            legacy = getattr(exc_value, "source", None)
            if isinstance(legacy, (tuple, list)) and legacy and isinstance(legacy[0], Origin):
                source = legacy
        if debug is None and source is None:
            return {}
        try:
            return get_data_from_template(source, debug)
        except Exception:
            self.logger.info("Unable to get template source from exception", exc_info=True)
            return {}


def _form_fields(form: Any) -> Dict[str, Any]:
    """A form's fields by name; a name sent more than once maps to the list of its values."""
    return {key: (values[0] if len(values) == 1 else values) for key, values in form.lists()}


def _parse_body(body: bytes, media_type: str, request: Any) -> Any:
    encoding = getattr(request, "encoding", None) or settings.DEFAULT_CHARSET
    if media_type == _FORM_TYPE:
        return _form_fields(QueryDict(body, encoding=encoding))
    if media_type == "application/json" or media_type.endswith("+json"):
        text = body.decode(encoding, "replace")
        try:
            return json.loads(text)
        except Exception:  # not JSON after all (or nested too deep): the text
            return text
    try:
        return body.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return UNAVAILABLE  # binary
