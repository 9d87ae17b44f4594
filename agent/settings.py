"""Environment settings for the explanation stack (``ALEX_*`` variables), read once at the edges (CLI, UI)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

PolicyMode = Literal["explain_only", "alex", "gated", "neighbours"]


class AlexSettings(BaseSettings):
    """Every knob of retrieval, the local LLM and the decision policy; CLI flags override these."""

    model_config = SettingsConfigDict(env_prefix="ALEX_", extra="ignore", frozen=True)

    gguf: Path | None = Field(None, description="GGUF model file; unset: the embedded SmolLM2-135M-Instruct")
    n_ctx: int = Field(2048, ge=256, le=131072, description="LLM context size in tokens")
    n_threads: int | None = Field(None, ge=1, le=512, description="LLM threads; unset: the CPUs this process may use")
    n_batch: int = Field(512, ge=8, le=8192, description="LLM prompt batch size")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="LLM sampling temperature; 0 is deterministic")
    max_tokens: int = Field(256, ge=16, le=4096, description="most tokens the LLM may generate per answer")
    repeat_penalty: float = Field(1.1, ge=1.0, le=2.0, description="LLM penalty on repeated tokens (stops loops)")
    seed: int = Field(0, ge=0, description="LLM sampling seed")
    policy: PolicyMode | None = Field(None, description="decision policy; unset: the calibrated one, else the default")
    threshold: float | None = Field(None, gt=0.0, le=1.0, description="confidence threshold of the gated policies")
    neighbours: int = Field(5, ge=0, le=50, description="labelled examples retrieved per post")
    index: Path | None = Field(None, description="example index directory used when --index is not given")
    ef_search: int = Field(64, ge=1, le=4096, description="HNSW search breadth (recall against speed)")
    nprobe: int = Field(16, ge=1, le=65536, description="IVF cells scanned per query (recall against speed)")
    large_index: Literal["ivf", "hnsw"] = Field("ivf", description="index type at flat_limit examples and above")
    flat_limit: int = Field(50_000, ge=1, description="indexes with fewer examples use exact search, larger ones "
                                                      "large_index")
    cache_dir: Path | None = Field(None, description="directory for cached LLM answers (calibration, benchmarks)")


def load_settings(**overrides: object) -> AlexSettings:
    """Read ``ALEX_*`` variables (plus explicit overrides) with a message that names the bad variable."""
    try:
        return AlexSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as err:
        problems = "; ".join(
            f"ALEX_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in err.errors()
        )
        raise ValueError(f"invalid settings: {problems}") from None
