#!/usr/bin/env python3
"""Conformance of the simulator's pipeline endpoints with the official `openai` SDK.

Drives `/v1/audio/transcriptions`, `/v1/chat/completions` (streamed, with usage, and a streamed
tool call through the SDK's `chat.completions.stream` helper; unstreamed) and `/v1/audio/speech`
with `OpenAI(base_url=...)`. Every JSON body, and every SSE chunk, is validated with the SDK's
pydantic types (`Transcription`, `ChatCompletion`, `ChatCompletionChunk`): the SDK itself builds
responses without validation, so the raw bodies are checked too.

Exit status 0 when everything conforms; otherwise a `FAIL:` line on stderr and status 1.

    .venv/bin/python tests/peers/pipeline_conformance.py --port 8089 [--fixtures DIR]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import urllib.request

from openai import OpenAI
from openai.types.audio import Transcription
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import ValidationError

REPO = pathlib.Path(__file__).resolve().parents[2]
TIMEOUT_S = 15.0
MESSAGES = [
    {"role": "system", "content": "You are a conformance test."},
    {"role": "user", "content": "Is Tuesday free?"},
]
TOOLS = [{
    "type": "function",
    "function": {
        "name": "book_slot",
        "description": "Books a slot.",
        "parameters": {"type": "object", "properties": {"day": {"type": "string"}}},
    },
}]


class Failure(Exception):
    """A conformance failure."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failure(message)


def validate(model, raw: str | bytes, what: str):
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        raise Failure(f"{what} does not validate as {model.__name__}:\n{error}\n{raw[:600]!r}")


def script(port: int, turns: list[dict]) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/sim/script",
        data=json.dumps({"turns": turns}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        check(response.status == 200, f"POST /sim/script answered {response.status}")


def transcription(client: OpenAI, port: int, fixtures: pathlib.Path) -> None:
    script(port, [{"caller_transcript": "Is Tuesday free?", "reply_text": "It is."}])
    with open(fixtures / "utterance-booking-16k.wav", "rb") as wav:
        raw = client.audio.transcriptions.with_raw_response.create(
            model="gpt-4o-transcribe", file=wav)
    parsed = validate(Transcription, raw.http_response.text, "the transcription")
    check(parsed.text == "Is Tuesday free?", f"transcript {parsed.text!r}")
    check(raw.parse().text == parsed.text, "the SDK reads the same text")


def streamed_chat(client: OpenAI) -> int:
    """Consumes the turn scripted by `transcription`; returns the number of chunks."""
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True,
        stream_options={"include_usage": True})
    body = raw.http_response.read().decode()
    check(raw.http_response.headers["content-type"].startswith("text/event-stream"),
          "SSE content type")
    events = [event for event in body.split("\n\n") if event]
    check(events[-1] == "data: [DONE]", f"the stream ends with [DONE]: {events[-1]!r}")
    chunks = [validate(ChatCompletionChunk, event.removeprefix("data: "), "a chunk")
              for event in events[:-1]]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    check(text == "It is.", f"streamed text {text!r}")
    check(chunks[-1].choices == [] and chunks[-1].usage is not None, "a final usage chunk")
    return len(chunks)


def tool_call_stream(client: OpenAI, port: int) -> None:
    script(port, [{"tool_call": {"name": "book_slot", "arguments": {"day": "Tuesday"}}}])
    with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES,
                                        tools=TOOLS) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    choice = final.choices[0]
    check(choice.finish_reason == "tool_calls", f"finish reason {choice.finish_reason!r}")
    call = choice.message.tool_calls[0]
    check(call.id.startswith("call_"), f"call id {call.id!r}")
    check(call.function.name == "book_slot", f"function {call.function.name!r}")
    check(json.loads(call.function.arguments) == {"day": "Tuesday"}, "arguments")


def whole_chat(client: OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    parsed = validate(ChatCompletion, raw.http_response.text, "the completion")
    content = parsed.choices[0].message.content
    check(content == "You said: Is Tuesday free?", f"default agent said {content!r}")


def speech(client: OpenAI) -> int:
    text = "Your appointment is booked."
    with client.audio.speech.with_streaming_response.create(
            model="gpt-4o-mini-tts", voice="alloy", input=text, response_format="pcm") as response:
        audio = b"".join(response.iter_bytes())
    expected = len(text) * 60 * 48
    check(abs(len(audio) - expected) <= expected // 10, f"{len(audio)} bytes of speech")
    return len(audio)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="the simulator's port on 127.0.0.1")
    parser.add_argument("--fixtures", type=pathlib.Path, default=REPO.parent / "shared" / "fixtures")
    args = parser.parse_args()
    client = OpenAI(base_url=f"http://127.0.0.1:{args.port}/v1", api_key="sim",
                    timeout=TIMEOUT_S, max_retries=0)
    try:
        transcription(client, args.port, args.fixtures)
        chunks = streamed_chat(client)
        tool_call_stream(client, args.port)
        whole_chat(client)
        audio = speech(client)
    except Failure as failure:
        print(f"FAIL: {failure}", file=sys.stderr)
        return 1
    print(f"OK: transcription, {chunks} chat chunks, a tool call stream, a completion and "
          f"{audio} bytes of speech validated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
