"""Request and response bodies of the gateway (they define the OpenAPI document)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ragway.auth import ApiKey, Role
from ragway.filters import is_valid_unicode
from ragway.jobs import FileState
from ragway.rag import Answer, RetrievalOptions
from ragway.records import Hit
from ragway.settings import RetrievalMode


def _valid_text(value: Any, where: str = "") -> None:
    """Every string of a request, dict keys included, must be encodable (no lone surrogates: JSON
    allows `\\ud800`, UTF-8, Milvus and the LLM do not)."""
    if isinstance(value, str) and not is_valid_unicode(value):
        raise ValueError(f"text{f' at {where}' if where else ''} holds a lone surrogate (invalid Unicode)")
    if isinstance(value, dict):
        for key, item in value.items():
            _valid_text(key, where)
            _valid_text(item, f"{where}.{key}".lstrip(".") if isinstance(key, str) and is_valid_unicode(key) else where)
    elif isinstance(value, list):
        for item in value:
            _valid_text(item, where)


class RequestBody(BaseModel):
    """Base of request bodies: strings checked to be valid Unicode, field by field."""

    @field_validator("*", mode="after")
    @classmethod
    def _unicode(cls, value: Any) -> Any:
        _valid_text(value)
        return value


class RetrievalParams(RequestBody):
    top_k: int | None = Field(None, ge=1, le=100, description="Number of chunks to retrieve (default: the "
                                                               "server's RAGWAY_TOP_K)")
    mode: RetrievalMode | None = Field(None, description="dense (embeddings), mmr (dense, diversified), bm25 "
                                                         "(keywords) or hybrid (bm25 + dense); default: the "
                                                         "server's RAGWAY_RETRIEVAL_MODE (hybrid)")
    score_threshold: float | None = Field(
        None, ge=-1, le=1, description="Drop chunks whose cosine similarity is below this, in every mode "
                                       "(answers default to the server's setting)")
    filter: dict[str, Any] | None = Field(
        None, description="Metadata filter, validated on the server: {field: value} or {field: {op: value}} "
                          "with fields source, doc_id, page, chunk_index, created_at, metadata.<key> and "
                          "ops eq, ne, gt, gte, lt, lte, in, prefix",
        examples=[{"source": "handbook.pdf", "page": {"gte": 2}}])

    def options(self) -> RetrievalOptions:
        return RetrievalOptions(top_k=self.top_k, mode=self.mode, score_threshold=self.score_threshold,
                                filter=self.filter)


class SearchRequest(RetrievalParams):
    kb: str = Field(..., description="Knowledge base to search", examples=["handbook"])
    query: str = Field(..., min_length=1, max_length=8_000, description="Question or keywords")


class ChunkRefOut(BaseModel):
    chunk_id: str
    doc_id: str
    source: str
    page: int


class ChunkOut(BaseModel):
    chunk_id: str
    score: float = Field(..., description="Higher is closer. dense, mmr: cosine similarity; bm25: BM25 score; "
                                          "hybrid: fused. metadata.retrieval.dense holds the cosine in every mode")
    text: str
    doc_id: str
    source: str = Field(..., description="File name the chunk came from")
    page: int = Field(..., description="1-based page, 0 when the format has no pages")
    chunk_index: int
    metadata: dict[str, Any]
    also_in: list[ChunkRefOut] = Field([], description="Other chunks with this same text (the same table as CSV and "
                                                       "as XLSX, one notice in two files), folded into this hit")

    @classmethod
    def of(cls, hit: Hit) -> ChunkOut:
        return cls(chunk_id=hit.chunk_id, score=hit.score, text=hit.text, doc_id=hit.doc_id, source=hit.source,
                   page=hit.page, chunk_index=hit.chunk_index, metadata=hit.metadata,
                   also_in=[ChunkRefOut(**asdict(ref)) for ref in hit.also_in])


class SearchResponse(BaseModel):
    kb: str
    hits: list[ChunkOut]


class AskRequest(RetrievalParams):
    kb: str = Field(..., description="Knowledge base to answer from", examples=["handbook"])
    question: str = Field(..., min_length=1, max_length=8_000)


class Citation(BaseModel):
    """Where a passage number the answer cites ([n]) comes from."""

    n: int = Field(..., description="The number as cited in the answer: [n] is sources[n-1]")
    chunk_id: str
    doc_id: str
    source: str
    page: int
    chunk_index: int

    @classmethod
    def of(cls, n: int, hit: Hit) -> Citation:
        return cls(n=n, chunk_id=hit.chunk_id, doc_id=hit.doc_id, source=hit.source, page=hit.page,
                   chunk_index=hit.chunk_index)


class Grounding(BaseModel):
    """The checks every answer gets (Ragway's `AskResponse` and chat extensions)."""

    citations: list[Citation] = Field([], description="The passages the answer cites inline as [n]")
    declined: bool = Field(False, description="The documents do not hold the answer (said in the question's "
                                              "language)")
    grounded: bool = Field(True, description="Every number, quoted phrase and name in the answer occurs in the "
                                             "passages it cites (or, when it cites the wrong one, in one passage: "
                                             "its citations are then corrected)")
    unsupported: list[str] = Field([], description="The parts of the answer not found in those passages; with "
                                                   "declined=true, the reason the model's answer was withdrawn")

    @classmethod
    def of(cls, answer: Answer) -> Grounding:
        return cls(citations=[Citation.of(n, answer.sources[n - 1]) for n in answer.citations],
                   declined=answer.declined, grounded=answer.grounded, unsupported=answer.unsupported)


class AskResponse(Grounding):
    answer: str
    sources: list[ChunkOut] = Field(..., description="The numbered passages given to the LLM: [1] is the first")

    @classmethod
    def of(cls, answer: Answer) -> AskResponse:
        return cls(answer=answer.answer, sources=[ChunkOut.of(h) for h in answer.sources],
                   **Grounding.of(answer).model_dump())


class JobCreated(BaseModel):
    job_id: str
    kb: str
    files: int = Field(..., description="Files added to the job (archive members counted one by one)")
    refused: list[str] = Field([], description="Files recorded as failed at once, with the reason")
    status_url: str

    @classmethod
    def of(cls, job_id: str, kb: str, files: list[FileState]) -> JobCreated:
        return cls(job_id=job_id, kb=kb, files=len(files), status_url=f"/v1/jobs/{job_id}",
                   refused=[f.error for f in files if f.error])


class OpenJobRequest(RequestBody):
    kb: str = Field(..., description="Knowledge base the job ingests into")


class ServerSourceRequest(RequestBody):
    path: str = Field(..., min_length=1, max_length=4096, pattern=r"^[^\x00-\x1f\x7f]*$",
                      description="Folder on the workers' shared storage, under an allowed root")
    include: list[str] = Field([], description="Glob patterns of files to take (relative paths), e.g. **/*.pdf")
    exclude: list[str] = Field([], description="Glob patterns of files to leave out")


class DocumentOut(BaseModel):
    doc_id: str
    source: str
    content_hash: str
    created_at: int = Field(..., description="Ingestion time, Unix epoch milliseconds")
    chunks: int


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, str] = Field(..., description="'ok' or the reason a dependency is not ready")


class KbCreate(RequestBody):
    name: str = Field(..., description="1-64 letters (any script), digits, '_', '-' or '.'", examples=["handbook"])
    description: str = Field("", max_length=1000)


class KeyCreate(RequestBody):
    role: Role = Field(..., description="reader: search/ask/chat; writer: + ingest and delete; admin: + keys, kbs")
    name: str = Field("", max_length=200, description="What the key is for, shown in listings")
    requests_per_minute: int | None = Field(None, ge=1, description="Override the server's per-key default")
    concurrent_jobs: int | None = Field(None, ge=1, description="Override the server's per-key default")


class KeyCreated(ApiKey):
    key: str = Field(..., description="The API key. Shown only now: store it safely")


# --- OpenAI-compatible API ----------------------------------------------------------------------
class ChatMessage(RequestBody):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "user", "assistant", "tool", "developer", "function"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The text of a message; multi-part content (OpenAI's content parts) joins its text parts."""
        if isinstance(self.content, list):
            return "\n".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatCompletionRequest(RequestBody):
    """OpenAI's chat request; fields Ragway does not use on kb models are accepted and ignored there
    (and passed on to the LLM on the plain model)."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(..., description="kb:<name> to answer from a knowledge base, or the LLM's name",
                       examples=["kb:handbook"])
    messages: list[ChatMessage] = Field(..., min_length=1)
    stream: bool = False
    temperature: float | None = None
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    retrieval: RetrievalParams | None = Field(None, description="Ragway extension: retrieval options (kb models)")


class ModelList(BaseModel):
    object: str = "list"
    data: list[dict[str, Any]]


class ChatCompletion(Grounding):
    """OpenAI's chat.completion, plus (kb models) `sources`, the numbered passages the answer was generated
    from, and the answer's citations and checks."""

    id: str
    object: str = "chat.completion"
    created: int
    model: str
    choices: list[dict[str, Any]]
    usage: dict[str, int] | None = None
    sources: list[ChunkOut] = Field([], description="Ragway extension: the chunks given to the LLM, [1] first")
    retrieval_query: str = Field("", description="Ragway extension: the standalone question retrieval used")
