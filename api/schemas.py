"""Request and response bodies of the gateway (they define the OpenAPI document)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ragway.records import Hit


class SearchRequest(BaseModel):
    kb: str = Field(..., description="Knowledge base to search", examples=["handbook"])
    query: str = Field(..., min_length=1, max_length=8_000, description="Question or keywords")
    top_k: int = Field(5, ge=1, le=100, description="Number of chunks to return")


class ChunkOut(BaseModel):
    chunk_id: str
    score: float = Field(..., description="Cosine similarity to the query, higher is closer")
    text: str
    doc_id: str
    source: str = Field(..., description="File name the chunk came from")
    page: int = Field(..., description="1-based page, 0 when the format has no pages")
    chunk_index: int
    metadata: dict[str, Any]

    @classmethod
    def of(cls, hit: Hit) -> ChunkOut:
        return cls(chunk_id=hit.chunk_id, score=hit.score, text=hit.text, doc_id=hit.doc_id, source=hit.source,
                   page=hit.page, chunk_index=hit.chunk_index, metadata=hit.metadata)


class SearchResponse(BaseModel):
    kb: str
    hits: list[ChunkOut]


class AskRequest(BaseModel):
    kb: str = Field(..., description="Knowledge base to answer from", examples=["handbook"])
    question: str = Field(..., min_length=1, max_length=8_000)
    top_k: int = Field(5, ge=1, le=50, description="Chunks retrieved before the best are given to the LLM")


class AskResponse(BaseModel):
    answer: str
    sources: list[ChunkOut] = Field(..., description="The chunks the answer was generated from, [1] first")


class JobCreated(BaseModel):
    job_id: str
    kb: str
    files: int = Field(..., description="Files added to the job (archive members counted one by one)")
    refused: list[str] = Field([], description="Files recorded as failed at once, with the reason")
    status_url: str


class OpenJobRequest(BaseModel):
    kb: str = Field(..., description="Knowledge base the job ingests into")


class ServerSourceRequest(BaseModel):
    path: str = Field(..., description="Folder on the workers' shared storage, under an allowed root")
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
