#!/usr/bin/env python3
"""A real WebRTC caller (aiortc) for voxgate's `POST /v1/calls/webrtc`.

Creates an `events` data channel and an audio track that plays a WAV file at real-time pace
(then silence), POSTs the offer with the call token, applies the answer, records the agent audio
it receives to a WAV file (48 kHz mono PCM16), collects the data-channel events, and stops when
`--until` is met or `--timeout` passes. Then it DELETEs the call with the call secret (unless
`--no-delete`), waits briefly for `ended`, and prints ONE JSON summary line on stdout:

    {"status": 201, "answer": "v=0...", "location": "/v1/calls/webrtc/…", "connected": true,
     "events": [...], "received_ms": 2140, "delete_status": 204, "error": null}

Only loopback is used: aioice's host candidates are limited to 127.0.0.1.

    .venv/bin/python tests/peers/webrtc_client.py --base http://127.0.0.1:PORT --token vct_… \
        --wav speech-16k.wav --speech-seconds 3 --out received.wav --until assistant_transcript
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import sys
import time
import urllib.error
import urllib.request
import wave

import aioice.ice
import av
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription

# Hermetic: offer only a loopback host candidate (aioice skips 127.0.0.1 by default).
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]


class WavTrack(MediaStreamTrack):
    """Mono PCM16 from a WAV file in 20 ms frames at real-time pace, then silence forever.

    `pause_after` (seconds of speech) and `resume_at` (seconds since the first frame) let the
    caller stop talking and start again mid-call, e.g. to barge in on the agent.
    """

    kind = "audio"

    def __init__(self, pcm: bytes, rate: int, segments: list[tuple[float, float, float]]):
        super().__init__()
        self.pcm, self.rate = pcm, rate
        # (start_s on the call clock, offset_s into the file, length_s)
        self.segments = segments
        self.frame = rate // 50
        self.sent = 0
        self.start: float | None = None

    def _samples_at(self, t: float) -> bytes:
        for start, offset, length in self.segments:
            if start <= t < start + length:
                first = int((offset + t - start) * self.rate)
                chunk = self.pcm[first * 2 : (first + self.frame) * 2]
                return chunk.ljust(self.frame * 2, b"\0")
        return b"\0" * (self.frame * 2)

    async def recv(self) -> av.AudioFrame:
        if self.start is None:
            self.start = time.monotonic()
        due = self.start + self.sent / self.rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        frame = av.AudioFrame(format="s16", layout="mono", samples=self.frame)
        frame.planes[0].update(self._samples_at(self.sent / self.rate))
        frame.sample_rate = self.rate
        frame.pts = self.sent
        frame.time_base = fractions.Fraction(1, self.rate)
        self.sent += self.frame
        return frame


def http(method: str, url: str, body: bytes | None, headers: dict[str, str]):
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def read_wav(path: str) -> tuple[bytes, int]:
    with wave.open(path, "rb") as wav:
        if wav.getnchannels() != 1 or wav.getsampwidth() != 2:
            raise SystemExit(f"{path}: need mono PCM16")
        return wav.readframes(wav.getnframes()), wav.getframerate()


async def record(track, out: bytearray, marks: dict) -> None:
    resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
    while True:
        try:
            frame = await track.recv()
        except Exception:  # the track ended
            return
        for mono in resampler.resample(frame):
            data = bytes(mono.planes[0])[: mono.samples * 2]
            if any(data):
                marks.setdefault("first_audio_at", time.monotonic())
                marks["last_audio_at"] = time.monotonic()
            out.extend(data)


def done(until: str, events: list[dict], received: bytearray) -> bool:
    if until == "assistant_transcript":
        return any(e.get("type") == "transcript" and e.get("role") == "assistant" for e in events)
    if until == "agent_audio":
        return len(received) > 48000 * 2  # one second
    # Otherwise: an event of that type (`ended`, `clear`, ...).
    return any(e.get("type") == until for e in events)


async def run(args) -> dict:
    pcm, rate = read_wav(args.wav)
    segments = [(0.0, 0.0, args.speech_seconds)]
    if args.barge_in_at is not None:
        segments.append((args.barge_in_at, args.barge_in_offset, args.barge_in_seconds))
    summary: dict = {"status": None, "connected": False, "events": [], "error": None}
    pc = RTCPeerConnection()
    received = bytearray()
    times: dict = {}
    events: list[dict] = summary["events"]
    channel = pc.createDataChannel("events")
    channel.on("message", lambda message: events.append(json.loads(message)))
    pc.addTrack(WavTrack(pcm, rate, segments))
    recorders = []
    pc.on("track", lambda track: recorders.append(asyncio.ensure_future(record(track, received, times))))
    await pc.setLocalDescription(await pc.createOffer())
    headers = {"Content-Type": "application/sdp", "Authorization": f"Bearer {args.token}"}
    status, response_headers, body = await asyncio.to_thread(
        http, "POST", f"{args.base}/v1/calls/webrtc", pc.localDescription.sdp.encode(), headers
    )
    summary["status"] = status
    if status != 201:
        summary["error"] = body.decode(errors="replace")
        await pc.close()
        return summary
    answer = body.decode()
    summary["answer"] = answer
    summary["content_type"] = response_headers.get("Content-Type")
    location = response_headers.get("Location")
    secret = response_headers.get("X-Voxgate-Call-Secret")
    summary["location"] = location
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    deadline = time.monotonic() + args.timeout
    while pc.connectionState != "connected" and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    summary["connected"] = pc.connectionState == "connected"
    while summary["connected"] and time.monotonic() < deadline and not done(args.until, events, received):
        await asyncio.sleep(0.05)
    if args.linger:
        await asyncio.sleep(args.linger)
    if not args.no_delete and location:
        delete_headers = {"Authorization": f"Bearer {secret}"}
        summary["delete_status"], _, _ = await asyncio.to_thread(
            http, "DELETE", f"{args.base}{location}", None, delete_headers
        )
        until = time.monotonic() + 5
        while time.monotonic() < until and not done("ended", events, received):
            await asyncio.sleep(0.05)
    summary["received_ms"] = len(received) // 96
    summary["received_audio_ms"] = (
        int((times["last_audio_at"] - times["first_audio_at"]) * 1000) if "first_audio_at" in times else 0
    )
    with wave.open(args.out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(48000)
        wav.writeframes(bytes(received))
    await pc.close()
    for task in recorders:
        task.cancel()
    return summary


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--wav", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--speech-seconds", type=float, default=3.0)
    parser.add_argument("--until", default="assistant_transcript")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--linger", type=float, default=0.0)
    parser.add_argument("--no-delete", action="store_true")
    parser.add_argument("--barge-in-at", type=float, default=None)
    parser.add_argument("--barge-in-offset", type=float, default=0.0)
    parser.add_argument("--barge-in-seconds", type=float, default=2.0)
    args = parser.parse_args()
    try:
        summary = asyncio.run(asyncio.wait_for(run(args), args.timeout + 30))
    except Exception as error:  # report, do not hang
        summary = {"status": None, "error": f"{type(error).__name__}: {error}"}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
