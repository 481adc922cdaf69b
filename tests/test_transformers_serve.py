"""The OpenAI-compatible proposer against a real `transformers serve` (transformers[serving]) serving the
bundled model, offline: one model task runs with every model request answered (the one probe for vLLM's
continuation fields may be refused, once), the samples the server's ignored `n` leaves out are made up by
more requests, and the trace names the served model, not the URL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from agent.__main__ import main
from agent.llm.constrained import UNSUPPORTED
from agent.trace import read_trace

REPO = Path(__file__).resolve().parent.parent
START_LIMIT_S = 300.0
SAMPLES = 2

pytestmark = pytest.mark.model


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    """`transformers serve` on the converted bundled model, offline, on a free port: (base URL, model id)."""
    pytest.importorskip("fastapi", reason="transformers serve needs transformers[serving] (fastapi, uvicorn)")
    pytest.importorskip("uvicorn", reason="transformers serve needs transformers[serving] (fastapi, uvicorn)")
    from agent.llm.models import prepare_bundled

    model_dir = prepare_bundled()
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    # One thread: on CPUs shared with other work, torch's threads mostly wait for each other.
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "-c", "import sys; from transformers.cli.transformers import main; sys.argv[0] = 'transformers'; main()",
             "serve", str(model_dir), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
            stdout=output, stderr=subprocess.STDOUT, env=environment)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_LIMIT_S
        while True:
            if server.poll() is not None:
                last = (log.read_text().strip().splitlines() or ["(no output)"])[-1]
                pytest.skip(f"transformers serve could not start here: {last}")
            try:
                if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.skip(f"transformers serve did not answer within {START_LIMIT_S:.0f} s")
            time.sleep(1)
        served_id = httpx.get(f"{url}/v1/models", timeout=10).json()["data"][0]["id"]
        yield f"{url}/v1", served_id
    finally:
        server.terminate()
        try:
            server.wait(timeout=5)  # uvicorn waits for a request in flight; no need here
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_a_model_task_against_transformers_serve(served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url, served_id = served
    answered: list[tuple[str, int]] = []
    send = httpx.Client.send

    def recording_send(client: httpx.Client, request: httpx.Request, **options):
        response = send(client, request, **options)
        answered.append((request.url.path, response.status_code))
        return response

    monkeypatch.setattr(httpx.Client, "send", recording_send)
    task = yaml.safe_load((REPO / "tasks" / "code2inv" / "1.yaml").read_text())
    task["budget"].update(max_proposals=SAMPLES, samples_per_step=SAMPLES, max_new_tokens=8, timeout_s=400.0)
    task_file = tmp_path / "task.yaml"
    task_file.write_text(yaml.safe_dump(task))
    runs = tmp_path / "runs"

    status = main(["solve", str(task_file), "--model", url, "--sources", "llm", "--runs-dir", str(runs)])

    assert status in (0, 1)  # solved or not, the run itself went through
    chat = [code for path, code in answered if path.endswith("/chat/completions")]
    refused = [code for code in chat if code != 200]
    # At most the two probes are refused, before any sample: the response-prefix continuation and the
    # grammar-guided decoding (`--constrained`), both vLLM-only fields that this server answers with 422.
    assert set(refused) <= {422} and len(refused) <= 2 and chat[:len(refused)] == refused, chat
    assert chat.count(200) >= SAMPLES, f"the server answers n={SAMPLES} with one choice: {chat}"
    events = read_trace(next(runs.iterdir()) / "trace.jsonl")
    header, result = events[0], events[-1]
    assert header.model == served_id and header.model_backend == "openai"
    assert header.model_settings["constrained_decoding"] == UNSUPPORTED  # the server ignores grammars: said so
    assert result.status != "error", result.message
    # Samples are verified once each: a repeated one is passed over (the search asks again until the budget
    # or the model's third step without a new candidate).
    sampled = [event.text for event in events if event.type == "proposal" and event.source == "llm"]
    assert 1 <= len(sampled) <= SAMPLES and len(set(sampled)) == len(sampled), sampled
