"""aiortc participants in a room while the host records it (run inside the test namespace).

``python -m tests.calls.record_peers`` with a JSON spec on stdin; prints one JSON report line::

    {"base": "...", "session_id": "...", "bearers": ["tok", ...], "frames": 10, "timeout": 90,
     "bases": ["...", ...],  # optional: each participant's app process (several processes, Redis)
     "steps": [{"as": "tok", "post": "/api/v1/...", "sleep": 3, "base": "..."}, {"leave": 0}, ...]}

The participants (if any) join and exchange media as in :mod:`tests.calls.peers`; once everyone
receives everyone, the steps are sent in order (each answer is reported, then the step's
``sleep`` lets media flow; ``base`` sends it to another app process; ``leave`` makes that
participant leave the room, reported as ``{"left": i}``), and every ``recording`` notice each
participant got is reported.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import httpx

from tests.calls.peers import Participant, all_done


class Watcher(Participant):
    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.notices: list[bool] = []

    async def on_message(self, msg: dict[str, Any]) -> None:
        if msg["type"] == "welcome":
            self.notices.append(bool(msg.get("recording")))
        elif msg["type"] == "recording":
            self.notices.append(bool(msg["on"]))
        await super().on_message(msg)


async def step(base: str, s: dict[str, Any]) -> dict[str, Any]:
    """POST or GET as the bearer ``as`` (none: a signed link); ``save`` writes the body to a file."""
    base = s.get("base", base)
    headers = {"authorization": f"Bearer {s['as']}"} if s.get("as") else {}
    async with httpx.AsyncClient(base_url=base, headers=headers) as http:
        r = await (http.post(s["post"]) if "post" in s else http.get(s["get"]))
    await asyncio.sleep(s.get("sleep", 0))
    if s.get("save") and r.status_code == 200:
        with open(s["save"], "wb") as f:
            f.write(r.content)
        return {"status": r.status_code, "size": len(r.content), "type": r.headers.get("content-type")}
    return {"status": r.status_code, "body": r.json()}


async def main() -> None:
    spec = json.load(sys.stdin)
    bearers = spec.get("bearers", [])
    spec["expect_others"] = len(bearers) - 1
    events = [asyncio.Event() for _ in bearers]
    bases = spec.get("bases") or [spec["base"]] * len(bearers)
    people = [Watcher(i, {**spec, "base": bases[i]}, b, events[i]) for i, b in enumerate(bearers)]
    runs = []
    for p in people:
        runs.append(asyncio.ensure_future(p.run()))
        await asyncio.sleep(0.3)
    ok = True
    try:
        await asyncio.wait_for(all_done(people, events, None), spec.get("timeout", 90))
    except TimeoutError:
        ok = False
    answers = []
    for s in spec.get("steps", []) if ok else []:
        if "leave" in s:
            i = s["leave"]
            await people[i].send({"type": "leave"})
            runs[i].cancel()
            await people[i].close()
            await asyncio.sleep(s.get("sleep", 0))
            answers.append({"left": i})
        else:
            answers.append(await step(spec["base"], s))
    await asyncio.sleep(0.5 if people else 0)  # the last notice reaches everyone
    for r in runs:
        r.cancel()
    await asyncio.gather(*(p.close() for p in people), return_exceptions=True)
    print(json.dumps({"ok": ok, "answers": answers,
                      "participants": [{**p.report(), "notices": p.notices} for p in people]}))


if __name__ == "__main__":
    asyncio.run(main())
