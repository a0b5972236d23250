"""Reading an API request's JSON body strictly, once, before any service sees it.

Python's json module accepts what JSON does not (NaN, Infinity, 1e400 read as infinity),
recurses once per nesting level (a body of 100 000 brackets raised RecursionError: a 500),
and gives strings that cannot be stored (NUL, which PostgreSQL text cannot hold; a lone
surrogate such as "\\ud800", which no encoding can write). Each of those is a bad request
here, naming where in the body it was, so that nothing downstream has to think about it.
"""
from __future__ import annotations

import json
import math
import re
from array import array
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

from flask import request

from workflow.services.errors import BadRequest, Invalid, TooLarge

MAX_BYTES = 1024 * 1024  # no JSON body of this API comes near it; uploads are multipart
MAX_DEPTH = 32  # the deepest body the API takes (a correction of a vote) nests 4 levels
NOT_FINITE = object()  # NaN, Infinity, or a number too large for a float
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = re.compile(rb"[^\[\]{}]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# each opening bracket +1, each closing one -1, as signed bytes
_DEPTH_STEPS = bytes.maketrans(b"[]{}", b"\x01\xff\x01\xff")


def depth(raw: bytes) -> int:
    """How deeply the brackets of a JSON text nest, outside its strings (no recursion)."""
    brackets = _NOT_BRACKETS.sub(b"", _STRINGS.sub(b"", raw)).translate(_DEPTH_STEPS)
    return max(accumulate(array("b", brackets)), default=0)


def _number(text: str) -> float | object:
    value = float(text)
    return value if math.isfinite(value) else NOT_FINITE


class _Repeated(ValueError):
    pass


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are all different: json.loads keeps the last of a repeated
    key, where a proxy or a log may read the first, so the step or date recorded would not
    be the one they saw."""
    value = dict(pairs)
    if len(value) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Repeated(key)
            seen.add(key)
    return value


def parse(raw: bytes) -> Any:
    """The JSON value of a body, or BadRequest/TooLarge saying what is wrong with it."""
    if len(raw) > MAX_BYTES:
        raise TooLarge(f"JSON 请求体不能超过 {MAX_BYTES // 1024} KB")
    if depth(raw) > MAX_DEPTH:
        raise BadRequest(f"JSON 嵌套不能超过 {MAX_DEPTH} 层")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("请求体必须是 UTF-8 编码的 JSON") from None
    try:
        value = json.loads(text, parse_constant=lambda _: NOT_FINITE, parse_float=_number,
                           object_pairs_hook=_object)
    except _Repeated as repeated:
        key = repeated.args[0]
        raise BadRequest(f"JSON 对象中的键「{key}」出现了不止一次",
                         fields={key: "重复的键"}) from None
    except (ValueError, RecursionError):  # RecursionError: unbalanced text the count missed
        raise BadRequest("请求体不是有效的 JSON") from None
    _refuse_unstorable(value)
    return value


def _walk(value: Any) -> Iterator[tuple[str, Any, bool]]:
    """(path, item, is_key) for every value and key, iteratively (depth is bounded anyway)."""
    pending: list[tuple[str, Any]] = [("", value)]
    while pending:
        path, item = pending.pop()
        yield path, item, False
        if isinstance(item, dict):
            for key, sub in item.items():
                sub_path = f"{path}.{key}" if path else str(key)
                yield sub_path, key, True
                pending.append((sub_path, sub))
        elif isinstance(item, list):
            pending.extend((f"{path}[{i}]", sub) for i, sub in enumerate(item))


def _refuse_unstorable(value: Any) -> None:
    for path, item, is_key in _walk(value):
        where = path or "(body)"
        if item is NOT_FINITE:
            raise BadRequest("数值必须是有限的数（不能是 NaN 或 Infinity）",
                             fields={where: "不能是 NaN、Infinity 或超出范围的数"})
        if isinstance(item, str):
            what = "字段名" if is_key else "内容"
            if "\x00" in item:
                raise BadRequest("请求内容不能包含 NUL 字符", fields={where: f"{what}包含 NUL 字符"})
            if _SURROGATE.search(item):
                raise BadRequest("请求内容包含无效的字符（不成对的代理码位）",
                                 fields={where: f"{what}包含不成对的代理码位"})


_UNREAD = object()
_KEY = "workflow.api.json_body"


def json_body() -> Any:
    """The request's JSON body, parsed once per request (None: no body, or not JSON)."""
    cached = request.environ.get(_KEY, _UNREAD)  # per request (`g` may outlive one)
    if cached is not _UNREAD:
        return cached
    value = None
    if request.is_json:
        if request.content_length is not None and request.content_length > MAX_BYTES:
            raise TooLarge(f"JSON 请求体不能超过 {MAX_BYTES // 1024} KB")
        raw = request.get_data(cache=True)
        value = parse(raw) if raw.strip() else None
    request.environ[_KEY] = value
    return value


def json_object(allowed: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The body as a JSON object; with `allowed`, a key outside it is refused (422, naming
    it), as the OpenAPI description says (additionalProperties: false)."""
    data = json_body()
    if not isinstance(data, dict):
        raise BadRequest("请求体必须是 JSON 对象（Content-Type: application/json）")
    if allowed is not None:
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise Invalid("请求中有未知字段", {k: "未知字段" for k in unknown})
    return data
