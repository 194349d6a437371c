"""RouteResolver: URL patterns as readable transaction names."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.urls import include, path, re_path

from raven.contrib.django.resolver import RouteResolver, get_regex


def view(request: Any, **kwargs: Any) -> HttpResponse:
    return HttpResponse()


included_url_conf = [re_path(r"^foo/bar/(?P<param>[\w]+)", view)]

example_url_conf = (
    re_path(r"^api/(?P<project_id>[\w_-]+)/store/$", view),
    re_path(r"^example/", include(included_url_conf)),
    path("shop/<slug:category>/<int:pk>/", view),
    path("files/<path:name>", view),
    path("v2/", include([path("users/<uuid:user_id>/", view), path("", view)])),
    re_path(r"^legacy/(\d+)/(?:page-(?P<page>\d+)/)?$", view),
    re_path(r"^anchored/(?P<x>\d+)/\Z", view),
)


def resolve(path: str) -> str:
    return RouteResolver().resolve(path, example_url_conf)


def test_no_match_gives_the_path_back() -> None:
    assert resolve("/foo/bar") == "/foo/bar"
    assert resolve("/report/") == "/report/"


def test_regex_routes_name_their_groups() -> None:
    assert resolve("/api/1234/store/") == "/api/{project_id}/store/"
    assert resolve("/example/foo/bar/baz") == "/example/foo/bar/{param}"
    assert resolve("/legacy/7/page-2/") == "/legacy/{var}/page-{page}/"


def test_path_routes_have_no_trailing_z() -> None:
    # raven 6.10 gave "/shop/{category}/{pk}/Z" (the \Z of the compiled regex)
    assert resolve("/shop/shoes/12/") == "/shop/{category}/{pk}/"
    assert resolve("/files/a/b/c.txt") == "/files/{name}"
    assert resolve("/v2/users/0b7f3fd2-2f39-4a3c-9a4c-9a0e26b2a2a1/") == "/v2/users/{user_id}/"
    assert resolve("/v2/") == "/v2/"
    assert resolve("/anchored/5/") == "/anchored/{x}/"


def test_a_converter_that_refuses_the_value_is_no_match() -> None:
    assert resolve("/shop/shoes/not-a-number/") == "/shop/shoes/not-a-number/"


def test_the_route_of_a_resolver_match_is_simplified() -> None:
    from django.urls import get_resolver

    match = get_resolver(example_url_conf).resolve("/example/foo/bar/baz")
    assert RouteResolver().resolve_match(match) == "/example/foo/bar/{param}"
    assert RouteResolver().resolve_match(None) is None


def test_get_regex_reads_resolvers_and_patterns() -> None:
    pattern = path("a/<int:b>/", view)
    assert get_regex(pattern).match("a/1/")
    assert get_regex(re_path(r"^x/$", view)).pattern == r"^x/$"


def test_the_default_urlconf_is_the_projects() -> None:
    assert RouteResolver().resolve("/orders/9/pay/") == "/orders/{order_id}/pay/"
