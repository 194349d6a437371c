"""Processors: secrets are masked in every part of an event; 6.10-style subclasses still work."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest

from raven import breadcrumbs
from raven.processors import (
    Processor,
    RemovePostDataProcessor,
    RemoveStackLocalsProcessor,
    SanitizeKeysProcessor,
    SanitizePasswordsProcessor,
)
from raven.utils.testutils import InMemoryClient

MASK = "********"


def last_frame_vars(event: Dict[str, Any]) -> Dict[str, Any]:
    if "exception" in event:
        frames = event["exception"]["values"][-1]["stacktrace"]["frames"]
    else:
        frames = event["stacktrace"]["frames"]
    return frames[-1]["vars"]  # type: ignore[no-any-return]


def capture_request(client: InMemoryClient, **request: Any) -> Dict[str, Any]:
    client.captureMessage("m", data={"request": dict({"url": "http://example.com/"}, **request)})
    return client.events[-1]["request"]  # type: ignore[no-any-return]


def test_the_mask_is_eight_asterisks() -> None:
    assert SanitizeKeysProcessor.MASK == MASK
    assert SanitizePasswordsProcessor.MASK == MASK


# -- by key, on every part of the event -------------------------------------------------------


def test_exception_frame_locals_with_secret_names_are_masked(client: InMemoryClient) -> None:
    def login() -> None:
        password = "hunter2"  # noqa: F841
        api_key = "k-123"  # noqa: F841
        db_secret_value = "s"  # noqa: F841
        username = "ada"  # noqa: F841
        raise ValueError("login failed")

    try:
        login()
    except ValueError:
        client.captureException()

    assert last_frame_vars(client.events[-1]) == {
        "password": MASK,
        "api_key": MASK,
        "db_secret_value": MASK,
        "username": "'ada'",
    }


def test_stack_true_message_locals_are_masked_too(client: InMemoryClient) -> None:
    """raven 6.10 left the top-level stacktrace of ``stack=True`` messages unscrubbed."""
    password = "hunter2"  # noqa: F841
    visible = "shown"  # noqa: F841

    client.captureMessage("with stack", stack=True)

    frame_vars = last_frame_vars(client.events[-1])
    assert frame_vars["password"] == MASK
    assert frame_vars["visible"] == "'shown'"


def test_nested_locals_are_masked_at_every_depth(client: InMemoryClient) -> None:
    settings = {"db": {"PASSWORD": "x", "host": "db1"}, "accounts": [{"access_token": "t"}]}  # noqa: F841

    client.captureMessage("m", stack=True)

    scrubbed = last_frame_vars(client.events[-1])["settings"]
    assert scrubbed["'db'"] == {"'PASSWORD'": MASK, "'host'": "'db1'"}
    assert scrubbed["'accounts'"] == ({"'access_token'": MASK},)


def test_none_values_stay_none(client: InMemoryClient) -> None:
    password = None  # noqa: F841

    client.captureMessage("m", stack=True, extra={"secret": None})

    assert last_frame_vars(client.events[-1])["password"] is None
    assert client.events[-1]["extra"]["secret"] is None


def test_request_form_data_is_masked_as_a_dict_and_as_a_string(client: InMemoryClient) -> None:
    as_dict = capture_request(client, data={"password": "p", "name": "ada"})
    as_text = capture_request(client, data="password=p&name=ada")
    as_bytes = capture_request(client, data=b"password=p&name=ada")

    assert as_dict["data"] == {"password": MASK, "name": "ada"}
    assert as_text["data"] == "password=%s&name=ada" % MASK
    assert as_bytes["data"] == "password=%s&name=ada" % MASK


def test_request_cookies_are_masked_as_a_dict_and_as_a_cookie_string(
    client: InMemoryClient,
) -> None:
    as_dict = capture_request(client, cookies={"sessionid": "abc", "theme": "dark"})
    as_text = capture_request(client, cookies="sessionid=abc; theme=dark")

    assert as_dict["cookies"] == {"sessionid": MASK, "theme": "dark"}
    assert "abc" not in as_text["cookies"]
    assert "theme=dark" in as_text["cookies"]


def test_authorization_and_cookie_headers_are_masked(client: InMemoryClient) -> None:
    request = capture_request(
        client,
        headers={
            "Authorization": "Basic dXNlcjpwYXNz",
            "Cookie": "sessionid=abc123; theme=dark",
            "Set-Cookie": "sessionid=abc123; HttpOnly",
            "X-Api-Key": "key-123",
            "Accept": "text/html",
        },
    )

    headers = request["headers"]
    assert headers["Authorization"] == MASK
    assert "abc123" not in headers["Cookie"]
    assert "abc123" not in headers["Set-Cookie"]
    assert headers["Accept"] == "text/html"


def test_query_string_values_are_masked_even_when_they_contain_equals_signs(
    client: InMemoryClient,
) -> None:
    request = capture_request(client, query_string="password=a=b=c&page=2")

    assert request["query_string"] == "password=%s&page=2" % MASK


def test_request_env_is_masked(client: InMemoryClient) -> None:
    request = capture_request(client, env={"SECRET_KEY": "django-insecure", "REMOTE_ADDR": "::1"})

    assert request["env"] == {"SECRET_KEY": MASK, "REMOTE_ADDR": "::1"}


def test_nested_extra_is_masked(client: InMemoryClient) -> None:
    client.captureMessage(
        "m", extra={"config": {"db": {"passwd": "x", "port": 5432}}, "secret": "s"}
    )

    extra = client.events[-1]["extra"]
    assert extra["secret"] == "'%s'" % MASK
    assert extra["config"] == {"'db'": {"'passwd'": "'%s'" % MASK, "'port'": "5432"}}


def test_user_data_is_masked(client: InMemoryClient) -> None:
    client.user_context({"id": 7, "email": "a@example.com", "password": "p", "api_key": "k"})

    client.captureMessage("m")

    assert client.events[-1]["user"] == {
        "id": 7,
        "email": "a@example.com",
        "password": MASK,
        "api_key": MASK,
    }


def test_breadcrumb_data_and_messages_are_masked(client: InMemoryClient) -> None:
    breadcrumbs.record(message="login", data={"username": "ada", "password": "hunter2"})
    breadcrumbs.record(message="calling api with Authorization: Bearer abcdefghijklmnop")

    client.captureMessage("m")

    first, second = client.events[-1]["breadcrumbs"]["values"]
    assert first["data"] == {"username": "ada", "password": MASK}
    assert "abcdefghijklmnop" not in second["message"]
    assert second["message"].startswith("calling api with Authorization: Bearer ")


def test_bytes_keys_are_matched_too(client: InMemoryClient) -> None:
    client.captureMessage("m", data={"request": {"url": "http://x/", "data": {b"password": "p"}}})

    # matched, and (as JSON needs text keys) sent as text
    assert client.events[-1]["request"]["data"] == {"password": MASK}


# -- by value ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "4242424242424242",
        "4242 4242 4242 4242",
        "4242-4242-4242-4242",
        "378282246310005",
        "4111111111111111",
    ],
)
def test_luhn_valid_card_numbers_are_masked_wherever_they_are(
    client: InMemoryClient, number: str
) -> None:
    card = number  # noqa: F841

    client.captureMessage("m", stack=True, extra={"payment": number})

    assert last_frame_vars(client.events[-1])["card"] == MASK
    assert client.events[-1]["extra"]["payment"] == "'%s'" % MASK


def test_a_card_number_held_as_an_int_is_masked(client: InMemoryClient) -> None:
    card = 4242424242424242  # noqa: F841

    client.captureMessage("m", stack=True)

    assert last_frame_vars(client.events[-1])["card"] == MASK


@pytest.mark.parametrize("number", ["4242424242424241", "1234567890123456", "0000000000000001"])
def test_a_number_failing_the_luhn_check_is_not_masked(client: InMemoryClient, number: str) -> None:
    order_number = number  # noqa: F841

    client.captureMessage("m", stack=True)

    assert last_frame_vars(client.events[-1])["order_number"] == "'%s'" % number


def test_bearer_tokens_in_text_are_masked(client: InMemoryClient) -> None:
    header_line = "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig"  # noqa: F841

    client.captureMessage("request sent with Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", stack=True)

    event = client.events[-1]
    assert "eyJhbGciOiJIUzI1NiJ9" not in last_frame_vars(event)["header_line"]
    assert "eyJhbGciOiJIUzI1NiJ9" not in event["message"]
    assert "eyJhbGciOiJIUzI1NiJ9" not in event["sentry.interfaces.Message"]["message"]
    assert event["message"].startswith("request sent with Bearer ")


def test_pem_private_keys_are_masked(client: InMemoryClient) -> None:
    pem = (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA0Z3VS5JJcds3xfn\n"
        "-----END RSA PRIVATE KEY-----"
    )

    client.captureMessage("m", stack=True, extra={"key_material": pem})

    assert "MIIEpAIBAAKCAQEA0Z3VS5JJcds3xfn" not in last_frame_vars(client.events[-1])["pem"]
    assert "MIIEpAIBAAKCAQEA0Z3VS5JJcds3xfn" not in client.events[-1]["extra"]["key_material"]


def test_ordinary_text_is_left_alone(client: InMemoryClient) -> None:
    note = "nothing secret in here, just a sentence of reasonable length"

    client.captureMessage("an ordinary message of some length", stack=True)

    assert last_frame_vars(client.events[-1])["note"] == "'%s'" % note
    assert client.events[-1]["message"] == "an ordinary message of some length"


# -- SanitizeKeysProcessor --------------------------------------------------------------------


def test_sanitize_keys_masks_configured_key_substrings_case_insensitively(make_client: Any) -> None:
    client = make_client(
        processors=["raven.processors.SanitizeKeysProcessor"],
        sanitize_keys=["Card_Token", "ssn"],
    )
    user_ssn = "123-45-6789"  # noqa: F841
    CARD_TOKEN = "tok_1"  # noqa: F841
    password = "not configured, so not masked"  # noqa: F841

    client.captureMessage(
        "m",
        stack=True,
        extra={"ssn": "x"},
        data={"request": {"url": "http://x/", "query_string": "ssn=1&page=2"}},
    )

    event = client.events[-1]
    assert last_frame_vars(event) == {
        "user_ssn": MASK,
        "CARD_TOKEN": MASK,
        "password": "'not configured, so not masked'",
        "client": last_frame_vars(event)["client"],
        "make_client": last_frame_vars(event)["make_client"],
    }
    assert event["extra"]["ssn"] == "'%s'" % MASK
    assert event["request"]["query_string"] == "ssn=%s&page=2" % MASK


def test_sanitize_keys_processor_without_sanitize_keys_raises_value_error(
    client: InMemoryClient,
) -> None:
    processor = SanitizeKeysProcessor(client)

    with pytest.raises(ValueError, match="sanitize_keys"):
        processor.process({"extra": {"a": "b"}})


def test_fields_is_a_deprecated_alias_of_keys(client: InMemoryClient) -> None:
    processor = SanitizePasswordsProcessor(client)

    with pytest.warns(DeprecationWarning):
        fields = processor.FIELDS

    assert set(fields) == set(processor.KEYS)
    assert {
        "password",
        "secret",
        "passwd",
        "authorization",
        "api_key",
        "apikey",
        "sentry_dsn",
        "access_token",
    } <= set(processor.KEYS)


# -- the other built-in processors ------------------------------------------------------------


def test_remove_post_data_processor_drops_only_the_body(make_client: Any) -> None:
    client = make_client(processors=[RemovePostDataProcessor])

    request = capture_request(client, data={"a": "b"}, method="POST")

    assert request == {"url": "http://example.com/", "method": "POST"}


def test_remove_stack_locals_processor_drops_vars_everywhere(make_client: Any) -> None:
    client = make_client(processors=[RemoveStackLocalsProcessor])
    local_value = "x"  # noqa: F841

    try:
        raise ValueError("x")
    except ValueError:
        client.captureException()
    client.captureMessage("m", stack=True)

    exception_event, message_event = client.events
    exception_frames = exception_event["exception"]["values"][-1]["stacktrace"]["frames"]
    assert exception_frames and not [f for f in exception_frames if "vars" in f]
    assert message_event["stacktrace"]["frames"]
    assert not [f for f in message_event["stacktrace"]["frames"] if "vars" in f]


# -- 6.10-style custom processors -------------------------------------------------------------


def test_a_processor_overriding_filter_extra_replaces_extra(make_client: Any) -> None:
    class OnlyOrderId(Processor):
        def filter_extra(self, data: Dict[str, Any]) -> Dict[str, Any]:
            return {"order_id": data.get("order_id")}

    client = make_client(processors=[OnlyOrderId])
    client.captureMessage("m", extra={"order_id": 5, "noise": "x"})

    assert client.events[-1]["extra"] == {"order_id": "5"}


def test_a_processor_overriding_get_data_replaces_the_event(make_client: Any) -> None:
    class Rename(Processor):
        def get_data(self, data: Dict[str, Any], **kwargs: Any) -> Dict[str, Any]:
            return dict(data, logger="renamed")

    client = make_client(processors=[Rename])
    client.captureMessage("m")

    assert client.events[-1]["logger"] == "renamed"


def test_a_processor_overriding_filter_http_and_filter_stacktrace_sees_each_part(
    make_client: Any,
) -> None:
    seen: List[str] = []

    class Inspect(Processor):
        def filter_http(self, data: Dict[str, Any]) -> None:
            seen.append("http:" + data["url"])

        def filter_stacktrace(self, data: Dict[str, Any]) -> None:
            seen.append("stack:%d" % len(data["frames"]))

    client = make_client(processors=[Inspect])
    try:
        raise ValueError("x")
    except ValueError:
        client.captureException(data={"request": {"url": "http://x/"}})

    assert seen[0].startswith("stack:")
    assert seen[1:] == ["http:http://x/"]


def test_a_scrubber_subclass_overriding_sanitize_is_honoured_everywhere(make_client: Any) -> None:
    """The built-in fast path must not bypass a subclass's own ``sanitize``."""

    class Custom(SanitizePasswordsProcessor):
        def sanitize(self, item: Any, value: Any) -> Any:
            if item == "password_hint":
                return value  # allowed through, although it contains "password"
            if item == "colour":
                return "REDACTED"
            return super().sanitize(item, value)

    client = make_client(processors=[Custom])
    password_hint = "name of the dog"  # noqa: F841
    colour = "blue"  # noqa: F841
    password = "hunter2"  # noqa: F841

    try:
        raise ValueError("x")
    except ValueError:
        client.captureException(extra={"colour": "red"})
    client.captureMessage(
        "m", stack=True, data={"request": {"url": "http://x/", "data": {"colour": "green"}}}
    )

    exception_event, message_event = client.events
    for event in (exception_event, message_event):
        frame_vars = last_frame_vars(event)
        assert frame_vars["password_hint"] == "'name of the dog'"
        assert frame_vars["colour"] == "REDACTED"
        assert frame_vars["password"] == MASK
    assert exception_event["extra"]["colour"] == "'REDACTED'"
    assert message_event["request"]["data"] == {"colour": "REDACTED"}


def test_processors_run_in_the_configured_order(make_client: Any) -> None:
    order: List[str] = []

    class First(Processor):
        def get_data(self, data: Dict[str, Any], **kwargs: Any) -> None:
            order.append("first")

    def second(event: Dict[str, Any], hint: Any) -> Dict[str, Any]:
        order.append("second")
        return event

    client = make_client(processors=[First, second])
    client.captureMessage("m")

    assert order == ["first", "second"]
