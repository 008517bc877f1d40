#!/usr/bin/env python3
"""Conformance of voxgate's provider simulator with the official `openai` SDK (Realtime GA).

Drives the simulator with `AsyncOpenAI(...).realtime.connect(model="gpt-realtime")` through a full
voice turn (server VAD on fixture speech), response.create / response.cancel, conversation items
and truncation, a scripted tool call, a text-only out-of-band response, G.711 mu-law with input
transcription, and an unknown client event. The raw JSON of EVERY frame received is validated with
`pydantic.TypeAdapter(RealtimeServerEvent).validate_json`, its `type` must be one of the union's
literals, and no beta event name may appear.

Exit status 0 when everything conforms; otherwise a `FAIL:` line on stderr and status 1.

    .venv/bin/python tests/peers/realtime_conformance.py --port 8089 [--fixtures DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import json
import pathlib
import sys
import typing
import urllib.request
import wave

from openai import AsyncOpenAI
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter, ValidationError

ADAPTER = TypeAdapter(RealtimeServerEvent)
REPO = pathlib.Path(__file__).resolve().parents[2]
# Beta-era names (and the beta-only `conversation.item.created` / `conversation.created`).
BETA = {
    "response.audio.delta",
    "response.audio.done",
    "response.audio_transcript.delta",
    "response.audio_transcript.done",
    "response.text.delta",
    "response.text.done",
    "conversation.item.created",
    "conversation.created",
}
TIMEOUT_S = 15.0


class Failure(Exception):
    """A conformance failure."""


def union_types() -> set[str]:
    """Every `type` literal of the RealtimeServerEvent union."""
    union = typing.get_args(RealtimeServerEvent)[0]
    names: set[str] = set()
    for model in typing.get_args(union):
        names.update(typing.get_args(model.model_fields["type"].annotation))
    return names


TYPES = union_types()


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failure(message)


class Frames:
    """Receives raw frames from the SDK connection and validates each one."""

    def __init__(self, connection) -> None:
        self.connection = connection
        self.count = 0
        self.seen: collections.Counter[str] = collections.Counter()

    async def next(self) -> dict:
        try:
            raw = await asyncio.wait_for(self.connection.recv_bytes(), TIMEOUT_S)
        except asyncio.TimeoutError as error:
            raise Failure(f"no frame within {TIMEOUT_S} s") from error
        try:
            ADAPTER.validate_json(raw)
        except ValidationError as error:
            raise Failure(f"frame does not validate as RealtimeServerEvent:\n{error}\n{raw[:600]!r}")
        data = json.loads(raw)
        kind = data.get("type")
        check(kind in TYPES, f"type {kind!r} is not in the RealtimeServerEvent union")
        check(kind not in BETA, f"beta event name {kind!r}")
        self.count += 1
        self.seen[kind] += 1
        return data

    async def until(self, kind: str) -> list[dict]:
        events = []
        while True:
            event = await self.next()
            events.append(event)
            if event["type"] == kind:
                return events


def types_of(events: list[dict]) -> list[str]:
    return [event["type"] for event in events]


def script(port: int, turns: list[dict]) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/sim/script",
        data=json.dumps({"turns": turns}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
        check(response.status == 200, f"POST /sim/script answered {response.status}")


def read_pcm24k(path: pathlib.Path) -> bytes:
    with wave.open(str(path)) as wav:
        check(wav.getframerate() == 24000, f"{path} is not 24 kHz")
        check(wav.getnchannels() == 1 and wav.getsampwidth() == 2, f"{path} is not mono PCM16")
        return wav.readframes(wav.getnframes())


async def append(connection, audio: bytes, chunk: int) -> None:
    for start in range(0, len(audio), chunk):
        piece = base64.b64encode(audio[start : start + chunk]).decode()
        await connection.input_audio_buffer.append(audio=piece)


async def voice_turn(connection, frames: Frames, speech: bytes) -> None:
    """About 2 s of speech in 40 ms chunks, then 1 s of silence: the VAD makes a turn."""
    await append(connection, speech[: 48 * 2000], 48 * 40)
    await append(connection, bytes(48 * 1000), 48 * 40)
    events = await frames.until("response.done")
    kinds = types_of(events)
    for expected in (
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "response.created",
        "response.output_audio.delta",
        "response.output_audio_transcript.done",
    ):
        check(expected in kinds, f"voice turn: no {expected} in {kinds}")
    check(events[-1]["response"]["status"] == "completed", "voice turn: response not completed")


async def cancel_and_truncate(connection, frames: Frames) -> None:
    await connection.response.create()
    events = await frames.until("response.output_audio.delta")
    item_id = events[-1]["item_id"]
    await connection.response.cancel()
    done = (await frames.until("response.done"))[-1]
    check(done["response"]["status"] == "cancelled", f"cancel: status {done['response']['status']}")
    await connection.conversation.item.create(
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello there"}]}
    )
    await frames.until("conversation.item.done")
    await connection.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=0)
    truncated = (await frames.until("conversation.item.truncated"))[-1]
    check(truncated["item_id"] == item_id, "truncate: wrong item")


async def tool_call(connection, frames: Frames, port: int) -> None:
    script(
        port,
        [
            {"tool_call": {"name": "book", "arguments": {"day": "2026-12-08"}}},
            {"reply_text": "Done, you are booked.", "reply_audio_ms": 300},
        ],
    )
    await connection.response.create()
    events = await frames.until("response.done")
    calls = [e for e in events if e["type"] == "response.function_call_arguments.done"]
    check(len(calls) == 1, f"tool call: {types_of(events)}")
    output = {"type": "function_call_output", "call_id": calls[0]["call_id"], "output": '{"booked": true}'}
    await connection.conversation.item.create(item=output)
    await frames.until("conversation.item.done")
    await connection.response.create()
    done = (await frames.until("response.done"))[-1]
    check(done["response"]["status"] == "completed", "tool call: the follow-up did not complete")


async def text_out_of_band(connection, frames: Frames) -> None:
    await connection.response.create(
        response={"output_modalities": ["text"], "conversation": "none", "metadata": {"purpose": "check"}}
    )
    events = await frames.until("response.done")
    kinds = types_of(events)
    check("response.output_text.delta" in kinds, f"text response: {kinds}")
    check("conversation.item.added" not in kinds, "out-of-band response added conversation items")


async def mulaw_with_transcription(connection, frames: Frames, port: int, ulaw: bytes) -> None:
    await connection.session.update(
        session={
            "type": "realtime",
            "audio": {
                "input": {"format": {"type": "audio/pcmu"}, "transcription": {"model": "gpt-4o-transcribe"}},
                "output": {"format": {"type": "audio/pcmu"}, "voice": "marin"},
            },
        }
    )
    updated = (await frames.until("session.updated"))[-1]
    check(updated["session"]["audio"]["input"]["format"]["type"] == "audio/pcmu", "pcmu not applied")
    script(port, [{"caller_transcript": "I would like to book an appointment."}])
    await append(connection, ulaw[: 8 * 2000], 160)
    await append(connection, b"\xff" * 8 * 1000, 160)
    events = await frames.until("response.done")
    transcripts = [e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed"]
    check(len(transcripts) == 1, f"mu-law turn: {types_of(events)}")
    check(transcripts[0]["transcript"] == "I would like to book an appointment.", "wrong caller transcript")


async def unknown_event(connection, frames: Frames) -> None:
    await connection.send_raw(json.dumps({"type": "bogus.event", "event_id": "evt_bogus"}))
    error = (await frames.until("error"))[-1]
    check(error["error"]["code"] == "unknown_event", f"unknown event: {error}")
    check(error["error"]["event_id"] == "evt_bogus", "unknown event: event_id not echoed")


async def run(port: int, fixtures: pathlib.Path) -> Frames:
    # The validator must have teeth: a beta frame is refused.
    beta = {"type": "response.audio.delta", "event_id": "e", "response_id": "r", "item_id": "i",
            "output_index": 0, "content_index": 0, "delta": ""}
    try:
        ADAPTER.validate_json(json.dumps(beta))
    except ValidationError:
        pass
    else:
        raise Failure("the validator accepted a beta frame")
    speech = read_pcm24k(fixtures / "speech-24k.wav")
    ulaw = (fixtures / "speech-8k.ulaw").read_bytes()
    client = AsyncOpenAI(api_key="test", websocket_base_url=f"ws://127.0.0.1:{port}/v1")
    async with client.realtime.connect(model="gpt-realtime") as connection:
        frames = Frames(connection)
        created = await frames.next()
        check(created["type"] == "session.created", f"first frame is {created['type']}")
        check(created["session"]["object"] == "realtime.session", "session.created: not a realtime.session")
        await connection.session.update(
            session={
                "type": "realtime",
                "instructions": "You are a conformance test.",
                "output_modalities": ["audio"],
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": 24000},
                        "turn_detection": {"type": "server_vad", "silence_duration_ms": 500,
                                           "create_response": True, "interrupt_response": True},
                    },
                    "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "alloy"},
                },
            }
        )
        await frames.until("session.updated")
        await voice_turn(connection, frames, speech)
        await cancel_and_truncate(connection, frames)
        await tool_call(connection, frames, port)
        await text_out_of_band(connection, frames)
        await mulaw_with_transcription(connection, frames, port, ulaw)
        await unknown_event(connection, frames)
    return frames


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="the simulator's port on 127.0.0.1")
    parser.add_argument("--fixtures", type=pathlib.Path, default=REPO.parent / "shared" / "fixtures")
    args = parser.parse_args()
    try:
        frames = asyncio.run(run(args.port, args.fixtures))
    except Failure as failure:
        print(f"FAIL: {failure}", file=sys.stderr)
        return 1
    kinds = ", ".join(f"{kind} x{count}" for kind, count in sorted(frames.seen.items()))
    print(f"OK: {frames.count} frames validated as RealtimeServerEvent ({kinds})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
