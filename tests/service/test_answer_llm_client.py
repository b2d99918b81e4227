"""OpenAICompatLLM against the OpenAI wire format, with httpx.MockTransport as the server."""

from __future__ import annotations

import json

import httpx
import pytest

from service.errors import LLMBadResponse, LLMTimeout, LLMUnavailable
from service.llm import Message, OpenAICompatLLM

MESSAGES = [Message("user", "hi")]


def llm_for(handler) -> OpenAICompatLLM:  # noqa: ANN001
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return OpenAICompatLLM(client, base_url="http://llm.test/v1", model="m", api_key="k", timeout_s=5)


async def _complete(llm: OpenAICompatLLM) -> str:
    return (await llm.complete(MESSAGES, max_tokens=8)).text


def run(coro):  # noqa: ANN001, ANN201
    import asyncio

    return asyncio.run(coro)


def test_complete_sends_openai_request_and_reads_answer() -> None:
    seen: dict[str, object] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["url"] = str(request.url)
        seen["auth"] = request.headers.get("authorization")
        seen["body"] = json.loads(request.content)
        body = {"choices": [{"message": {"content": "hello"}, "finish_reason": "stop"}], "usage": {}}
        return httpx.Response(200, json=body)

    assert run(_complete(llm_for(handler))) == "hello"
    assert seen["url"] == "http://llm.test/v1/chat/completions"
    assert seen["auth"] == "Bearer k"
    body = seen["body"]
    assert isinstance(body, dict)
    assert body["model"] == "m" and body["max_tokens"] == 8 and body["messages"][0]["content"] == "hi"
    assert "seed" not in body  # answers are greedy; only sampled calls ask for a seed


def test_complete_passes_the_seed() -> None:
    bodies: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"choices": [{"message": {"content": "q"}}], "usage": {}})

    run(llm_for(handler).complete(MESSAGES, max_tokens=8, temperature=0.7, seed=3))
    assert bodies[0]["seed"] == 3 and bodies[0]["temperature"] == 0.7


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(200, text="<html>not json</html>"), LLMBadResponse),
        (httpx.Response(200, json={"choices": []}), LLMBadResponse),
        (httpx.Response(200, json={"choices": [{"message": {"content": None}}]}), LLMBadResponse),
        (httpx.Response(503, text="loading model"), LLMUnavailable),
        (httpx.Response(400, json={"error": "context too long"}), LLMBadResponse),
    ],
)
def test_bad_responses_map_to_service_errors(response: httpx.Response, error: type[Exception]) -> None:
    with pytest.raises(error):
        run(_complete(llm_for(lambda request: response)))


def test_transport_errors_map_to_unavailable_and_timeout() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(LLMUnavailable) as down:
        run(_complete(llm_for(refuse)))
    assert isinstance(down.value.__cause__, httpx.ConnectError)  # cause kept
    with pytest.raises(LLMTimeout):
        run(_complete(llm_for(slow)))


def test_stream_yields_deltas_until_done() -> None:
    events = [
        {"choices": [{"delta": {"role": "assistant"}}]},
        {"choices": [{"delta": {"content": "Add "}}]},
        {"choices": [{"delta": {"content": "CORSMiddleware [1]."}}]},
    ]
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"

    def handler(request: httpx.Request) -> httpx.Response:
        assert json.loads(request.content)["stream"] is True
        return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})

    async def collect() -> list[str]:
        return [p async for p in llm_for(handler).stream(MESSAGES)]

    assert run(collect()) == ["Add ", "CORSMiddleware [1]."]


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="data: {not json\n\n"),
        httpx.Response(200, text="<html>not a completion</html>", headers={"content-type": "text/html"}),
    ],
    ids=["unreadable-event", "no-events"],
)
def test_stream_garbage_is_bad_response(response: httpx.Response) -> None:
    async def collect() -> list[str]:
        return [p async for p in llm_for(lambda request: response).stream(MESSAGES)]

    with pytest.raises(LLMBadResponse):
        run(collect())


def test_a_stream_that_trickles_past_the_timeout_is_a_timeout() -> None:
    """Every chunk arrives well within httpx's per-read timeout, but the whole generation takes
    longer than the client's timeout: LLMTimeout, not an answer after any length of time."""
    import asyncio

    event = f"data: {json.dumps({'choices': [{'delta': {'content': 'word '}}]})}\n\n".encode()

    async def trickle():  # noqa: ANN202
        for _ in range(40):
            await asyncio.sleep(0.05)
            yield event

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=trickle(), headers={"content-type": "text/event-stream"})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    llm = OpenAICompatLLM(client, base_url="http://llm.test/v1", model="m", timeout_s=0.5)

    async def collect() -> list[str]:
        return [p async for p in llm.stream(MESSAGES)]

    with pytest.raises(LLMTimeout):
        run(collect())
