"""raven.utils.wsgi: what the middleware reports about a request, read from the environ."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from raven.utils.wsgi import get_client_ip, get_current_url, get_environ, get_headers, get_host


class TestGetHeaders:
    def test_http_keys_become_title_case_header_names(self) -> None:
        headers = dict(get_headers({"HTTP_ACCEPT": "text/plain", "HTTP_X_FORWARDED_FOR": "1"}))
        assert headers == {"Accept": "text/plain", "X-Forwarded-For": "1"}

    def test_content_type_and_length_are_headers_too(self) -> None:
        headers = dict(get_headers({"CONTENT_TYPE": "text/plain", "CONTENT_LENGTH": "134"}))
        assert headers == {"Content-Type": "text/plain", "Content-Length": "134"}

    def test_empty_content_headers_are_kept_as_in_6_10(self) -> None:
        headers = dict(get_headers({"CONTENT_TYPE": "", "CONTENT_LENGTH": ""}))
        assert headers == {"Content-Type": "", "Content-Length": ""}

    def test_http_prefixed_duplicates_of_content_headers_are_skipped(self) -> None:
        environ = {"CONTENT_TYPE": "text/plain", "HTTP_CONTENT_TYPE": "text/html"}
        assert dict(get_headers(environ)) == {"Content-Type": "text/plain"}

    def test_server_variables_and_non_string_keys_are_not_headers(self) -> None:
        environ: dict[Any, Any] = {
            ("a", "tuple"): "foo",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.input": object(),
        }
        assert dict(get_headers(environ)) == {}


class TestGetEnviron:
    def test_yields_only_the_whitelisted_keys_that_are_present(self) -> None:
        environ = {
            "REMOTE_ADDR": "127.0.0.1",
            "SERVER_PORT": 80,
            "wsgi.input": "body",
            "PATH": "/usr/bin",
        }
        assert dict(get_environ(environ)) == {"REMOTE_ADDR": "127.0.0.1", "SERVER_PORT": 80}

    def test_server_name(self) -> None:
        assert dict(get_environ({"SERVER_NAME": "localhost"})) == {"SERVER_NAME": "localhost"}


class TestGetHost:
    def test_x_forwarded_host_wins(self) -> None:
        environ = {"HTTP_X_FORWARDED_HOST": "proxy.example.com", "HTTP_HOST": "internal"}
        assert get_host(environ) == "proxy.example.com"

    def test_first_entry_of_a_forwarded_host_chain(self) -> None:
        environ = {"HTTP_X_FORWARDED_HOST": "a.example.com, b.example.com"}
        assert get_host(environ) == "a.example.com"

    def test_host_header_next(self) -> None:
        assert get_host({"HTTP_HOST": "example.com"}) == "example.com"

    @pytest.mark.parametrize(
        ("scheme", "port", "expected"),
        [
            ("http", "80", "example.com"),
            ("https", "443", "example.com"),
            ("http", "81", "example.com:81"),
            ("https", "80", "example.com:80"),
            ("http", 8000, "example.com:8000"),
        ],
    )
    def test_server_name_and_port_last(self, scheme: str, port: object, expected: str) -> None:
        environ = {"wsgi.url_scheme": scheme, "SERVER_NAME": "example.com", "SERVER_PORT": port}
        assert get_host(environ) == expected

    @pytest.mark.parametrize(
        ("scheme", "host", "expected"),
        [
            ("http", "example.com:80", "example.com"),
            ("https", "example.com:443", "example.com"),
            ("https", "example.com:80", "example.com:80"),
        ],
    )
    def test_default_port_is_dropped_from_host_headers(
        self, scheme: str, host: str, expected: str
    ) -> None:
        assert get_host({"wsgi.url_scheme": scheme, "HTTP_HOST": host}) == expected


def make_environ(**overrides: Any) -> dict[str, Any]:
    environ = {
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "localhost",
        "SCRIPT_NAME": "/script",
        "PATH_INFO": "/",
        "QUERY_STRING": "param=foo",
    }
    environ.update(overrides)
    return environ


class TestGetCurrentUrl:
    def test_full_url(self) -> None:
        assert get_current_url(make_environ()) == "http://localhost/script/?param=foo"

    def test_root_only(self) -> None:
        assert get_current_url(make_environ(), root_only=True) == "http://localhost/script/"

    def test_host_only(self) -> None:
        assert get_current_url(make_environ(), host_only=True) == "http://localhost/"

    def test_strip_querystring(self) -> None:
        url = get_current_url(make_environ(), strip_querystring=True)
        assert url == "http://localhost/script/"

    def test_empty_query_string_adds_no_question_mark(self) -> None:
        url = get_current_url(make_environ(QUERY_STRING="", PATH_INFO="/a"))
        assert url == "http://localhost/script/a"

    def test_path_is_percent_encoded(self) -> None:
        url = get_current_url(make_environ(SCRIPT_NAME="", PATH_INFO="/a b/c;d"))
        assert url == "http://localhost/a%20b/c%3Bd?param=foo"

    def test_utf8_path_delivered_as_latin1_is_encoded_once(self) -> None:
        # PEP 3333: the server decodes the raw bytes b"/caf\xc3\xa9" as latin-1.
        path_info = "/café".encode().decode("latin-1")
        url = get_current_url(make_environ(SCRIPT_NAME="", PATH_INFO=path_info, QUERY_STRING=""))
        assert url == "http://localhost/caf%C3%A9"

    def test_invalid_utf8_bytes_survive_as_escapes(self) -> None:
        url = get_current_url(make_environ(SCRIPT_NAME="", PATH_INFO="/\xff", QUERY_STRING=""))
        assert url == "http://localhost/%FF"

    def test_real_text_from_a_non_conforming_server_is_utf8_encoded(self) -> None:
        url = get_current_url(make_environ(SCRIPT_NAME="", PATH_INFO="/日本", QUERY_STRING=""))
        assert url == "http://localhost/%E6%97%A5%E6%9C%AC"

    def test_query_string_keeps_its_escapes_and_encodes_only_what_is_invalid(self) -> None:
        url = get_current_url(make_environ(QUERY_STRING="a=%20b&c=d e&f=\xe9"))
        assert url == "http://localhost/script/?a=%20b&c=d%20e&f=%E9"

    def test_missing_scheme_defaults_to_http(self) -> None:
        environ = make_environ()
        del environ["wsgi.url_scheme"]
        assert get_current_url(environ, host_only=True) == "http://localhost/"

    @given(st.binary(max_size=40))
    def test_any_raw_path_round_trips_through_the_url(self, raw: bytes) -> None:
        path_info = "/" + raw.decode("latin-1")
        url = get_current_url(
            {"wsgi.url_scheme": "https", "HTTP_HOST": "h", "PATH_INFO": path_info},
            strip_querystring=True,
        )
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc) == ("https", "h")
        expected = b"/" + raw.lstrip(b"/")
        assert unquote_to_bytes(parts.path) == expected
        assert url.isascii()


class TestGetClientIp:
    def test_remote_addr(self) -> None:
        assert get_client_ip({"REMOTE_ADDR": "127.0.0.1"}) == "127.0.0.1"

    def test_first_x_forwarded_for_entry(self) -> None:
        environ = {"HTTP_X_FORWARDED_FOR": " 1.1.1.1 , 127.0.0.1", "REMOTE_ADDR": "10.0.0.1"}
        assert get_client_ip(environ) == "1.1.1.1"

    def test_empty_x_forwarded_for_falls_back_to_remote_addr(self) -> None:
        environ = {"HTTP_X_FORWARDED_FOR": "", "REMOTE_ADDR": "10.0.0.1"}
        assert get_client_ip(environ) == "10.0.0.1"

    def test_none_when_nothing_is_known(self) -> None:
        assert get_client_ip({}) is None
