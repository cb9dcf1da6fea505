"""POST /api/v1/signatures/verify: verify a document sent in the request."""

import base64
import binascii
import json

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from gateway.signing.rendering import LANGUAGES, render
from gateway.signing.report import DocumentReport
from gateway.signing.settings import SigningSettings
from gateway.signing.verifier import POLICIES
from gateway.signing.workers import shared_workers
from gateway.webhooks.intake import body_within_limit

BINARY = {"schema": {"type": "string", "format": "binary"}}
REQUEST_BODY = {"requestBody": {"required": True, "content": {
    "application/pdf": BINARY, "application/xml": BINARY, "application/pkcs7-signature": BINARY,
    "application/octet-stream": BINARY,
    "application/json": {"schema": {"type": "object", "required": ["document"], "properties": {
        "document": {"type": "string", "format": "byte", "description": "The signed file, base64"},
        "signature": {"type": ["string", "null"], "format": "byte",
                      "description": "A detached CMS signature (.p7s) of the document, base64"}}}}}}}


class Verification(BaseModel):
    report: DocumentReport
    text: str = Field(description="The report as people read it, in the language asked for")


def signatures_router(settings: SigningSettings) -> APIRouter:
    router = APIRouter(tags=["signatures"])
    workers = shared_workers(settings)  # here, so that a bad anchor file stops start-up

    @router.post(
        "/api/v1/signatures/verify", response_model=Verification, openapi_extra=REQUEST_BODY,
        summary="Verify the signatures of a document (PDF, XML e-form, .p7s)",
        description=("The body is the document itself (any content type but application/json). For a detached "
                     "CMS signature send application/json: {\"document\": base64, \"signature\": base64}. "
                     "Answered 200 with the report whatever the verdict; see docs/signatures.md."),
        responses={400: {"description": "An empty body, or JSON that is not {document, signature} in base64"},
                   413: {"description": "Larger than signing.max_document_bytes"},
                   422: {"description": "Unknown policy or language"}})
    async def verify(request: Request,
                     policy: str = Query("signature", description=" or ".join(POLICIES)),
                     language: str = Query("vi", description=" or ".join(LANGUAGES))) -> Verification:
        if policy not in POLICIES:
            raise HTTPException(422, detail=f"policy must be one of {', '.join(POLICIES)}")
        if language not in LANGUAGES:
            raise HTTPException(422, detail=f"language must be one of {', '.join(LANGUAGES)}")
        limit = settings.max_document_bytes
        body = await body_within_limit(request, limit * 4 // 3 + 4096)  # base64 in JSON is a third larger
        if body is None:
            raise HTTPException(413, detail=f"larger than signing.max_document_bytes ({limit} bytes)")
        document, signature = _document_and_signature(body, request.headers.get("content-type", ""))
        if len(document) > limit:
            raise HTTPException(413, detail=f"larger than signing.max_document_bytes ({limit} bytes)")
        report = await workers.verify(document, signature=signature, policy=policy)
        return Verification(report=report, text=render(report, language))

    return router


def _document_and_signature(body: bytes, content_type: str) -> tuple[bytes, bytes | None]:
    if not body:
        raise HTTPException(400, detail="the body is empty: send the document")
    if not content_type.startswith("application/json"):
        return body, None
    try:
        fields = json.loads(body)
        document = base64.b64decode(fields["document"], validate=True)
        signature = base64.b64decode(fields["signature"], validate=True) if fields.get("signature") else None
    except (ValueError, KeyError, TypeError, binascii.Error) as error:
        raise HTTPException(400, detail=f"JSON must be {{\"document\": base64, \"signature\": base64 or null}}: "
                                        f"{error}") from None
    if not document:
        raise HTTPException(400, detail="the document is empty")
    return document, signature
