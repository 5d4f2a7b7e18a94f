"""`bertcli serve`: a FastAPI application over one loaded model, run by uvicorn.

POST /predict takes {"texts": [...]}, POST /predict/stream takes newline-delimited texts and answers one
JSON line per text as soon as it is classified; GET /health, GET /info; OpenAPI docs at /docs. Bad input
gets a 4xx with one message ({"error": "..."}), never a traceback; a full queue gets 503 with Retry-After.
Outside localhost every request needs the API key. fastapi and uvicorn are imported inside functions.
"""

import asyncio
import hmac
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from bertcli.core.errors import UsageError

if TYPE_CHECKING:
    from bertcli.core.deploy.batcher import MicroBatcher
    from bertcli.core.inference.load import Classifier

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
API_KEY_ENV = "BERTCLI_API_KEY"
RETRY_AFTER_SECONDS = 1
STREAM_IN_FLIGHT = 64  # texts of one stream queued ahead of the one being written


@dataclass
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    batch_tokens: int = 4096
    max_wait_ms: float = 5.0
    max_queue: int = 1024  # texts waiting for the model, all requests together
    max_body_bytes: int = 1_000_000
    max_texts: int = 256  # per request
    max_text_chars: int = 20_000
    flag: str | None = None
    threshold: float | None = None
    graceful_seconds: float = 30.0


@dataclass
class ModelInfo:
    """What /info and the startup line say about the model."""

    model: str
    mode: str
    labels: list[str]
    max_length: int
    truncation: str
    metrics: dict[str, Any] = field(default_factory=dict)
    eval_split: str | None = None

    def card_line(self) -> str:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in self.metrics.items() if isinstance(v, (int, float)) and k in ("accuracy", "f1"))
        card = f"card: {shown} on {self.eval_split or 'its eval split'}" if shown else "card: no metrics recorded"
        return f"{self.model}: {', '.join(self.labels)}; max length {self.max_length} ({self.truncation}); {self.mode}; {card}"


def check_settings(settings: ServeSettings) -> ServeSettings:
    """Refuse a server that would bind beyond localhost without a key, or without its libraries."""
    from bertcli.core.inference.onnxrt import require

    for module in ("fastapi", "uvicorn"):
        require(module, "serve", "bertcli serve")
    if settings.host not in LOCAL_HOSTS and not settings.api_key:
        raise UsageError(f"--host {settings.host} opens the server beyond this machine: give --api-key KEY "
                         f"(or set {API_KEY_ENV}), or keep --host 127.0.0.1")
    if settings.api_key is not None and len(settings.api_key) < 16:
        raise UsageError("--api-key must be at least 16 characters — e.g. python -c 'import secrets; print(secrets.token_urlsafe())'")
    return settings


def model_info(clf: "Classifier") -> ModelInfo:
    from bertcli.core.runs.jsonfile import read_json_object

    metrics_doc = read_json_object(Path(clf.name).expanduser() / "metrics.json") or {}
    metrics = metrics_doc.get("metrics") if isinstance(metrics_doc.get("metrics"), dict) else {}
    return ModelInfo(clf.name, clf.mode, list(clf.label_names), clf.max_length, clf.truncation, metrics,
                     metrics_doc.get("eval_split") if isinstance(metrics_doc.get("eval_split"), str) else None)


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def parse_texts(body: bytes, settings: ServeSettings) -> list[str]:
    """The texts of a /predict body, or BadRequest with one line saying what is wrong."""
    try:
        decoded = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadRequest(400, f"the body is not UTF-8 (byte {err.start}) — send UTF-8 JSON") from None
    try:
        data = json.loads(decoded)
    except ValueError as err:
        raise BadRequest(400, f'the body is not valid JSON ({err}) — send {{"texts": ["..."]}}') from None
    if not isinstance(data, dict) or "texts" not in data:
        raise BadRequest(422, 'the body must be a JSON object with a "texts" list: {"texts": ["..."]}')
    texts = data["texts"]
    if not isinstance(texts, list):
        raise BadRequest(422, f'"texts" must be a list of strings, not {type(texts).__name__}')
    if not texts:
        raise BadRequest(422, '"texts" is empty — send at least one text')
    if len(texts) > settings.max_texts:
        raise BadRequest(422, f'{len(texts)} texts in one request; at most {settings.max_texts} (--max-texts) — split the request')
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise BadRequest(422, f'texts[{i}] is {type(text).__name__}, not a string')
        if len(text) > settings.max_text_chars:
            raise BadRequest(422, f"texts[{i}] has {len(text):,} characters; at most {settings.max_text_chars:,} (--max-text-chars)")
    return texts


def _record(served: Any, label_names: list[str], index: int, flag: str | None) -> dict[str, Any]:
    from bertcli.core.inference.records import prediction_record

    pred = served.prediction
    pred.index = index
    record = prediction_record(pred, label_names, with_text=False)
    if flag is not None:
        record["flagged"] = pred.flagged
    return record


def build_app(clf: "Classifier", batcher: "MicroBatcher", settings: ServeSettings, log: Callable[[str], None]) -> Any:
    """The FastAPI application: routes, one JSON error shape, the API key and the access log."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from starlette.responses import Response

    class Streamed(NdjsonStream, Response):  # a Response, so FastAPI hands it the connection as it is
        pass

    info = model_info(clf)
    app = FastAPI(title="bertcli serve", version="1", description=f"Text classification with {info.model}.")

    def error(status: int, message: str, headers: dict[str, str] | None = None) -> Any:
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Any:
        message = exc.detail if isinstance(exc.detail, str) else "bad request"
        if exc.status_code == 404:
            message = f"no route {request.method} {request.url.path} — see /docs"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path} — see /docs"
        return error(exc.status_code, message)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Any:
        first = (exc.errors() or [{}])[0]
        return error(422, f"{'.'.join(str(p) for p in first.get('loc', ()))}: {first.get('msg', 'invalid request')}")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Any:
        log(f"error on {request.method} {request.url.path}: {type(exc).__name__}: {exc}")
        return error(500, "internal error while classifying — the server log has the cause")

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > settings.max_body_bytes:
            raise BadRequest(413, f"the body has {int(declared):,} bytes; at most {settings.max_body_bytes:,} (--max-body-bytes)")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > settings.max_body_bytes:
                raise BadRequest(413, f"the body is over {settings.max_body_bytes:,} bytes (--max-body-bytes)")
            chunks.append(chunk)
        return b"".join(chunks)

    async def classify(texts: list[str]) -> list[Any]:
        from bertcli.core.deploy.batcher import Overloaded

        loop = asyncio.get_running_loop()
        try:
            futures = await loop.run_in_executor(None, batcher.submit, texts)
        except Overloaded as err:
            raise BadRequest(503, f"the server is busy: {err} — retry in {RETRY_AFTER_SECONDS} s") from None
        return list(await asyncio.gather(*(asyncio.wrap_future(f) for f in futures)))

    predict_schema = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["texts"],
        "properties": {"texts": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": settings.max_texts}},
    }, "example": {"texts": ["a wonderful, moving film", "the worst movie I have seen"]}}}}}

    @app.post("/predict", openapi_extra=predict_schema, summary="Classify a list of texts")
    async def predict(request: Request) -> Any:
        """{"texts": [...]} → {"predictions": [{"index", "label", "confidence", "probabilities", "n_tokens", "truncated", "flagged"?}]}"""
        try:
            texts = parse_texts(await read_body(request), settings)
            served = await classify(texts)
        except BadRequest as bad:
            return error(bad.status, bad.message, {"Retry-After": str(RETRY_AFTER_SECONDS)} if bad.status == 503 else None)
        request.scope.setdefault("state", {})["bertcli"] = (len(texts), max(s.batch_texts for s in served))
        return {"model": info.model, "predictions": [_record(s, info.labels, i, settings.flag) for i, s in enumerate(served)]}

    stream_schema = {"requestBody": {"required": True, "content": {"text/plain": {"schema": {"type": "string"},
                     "example": "a wonderful, moving film\nthe worst movie I have seen\n"}}}}

    @app.post("/predict/stream", openapi_extra=stream_schema, summary="Classify newline-delimited texts as they arrive")
    async def predict_stream(request: Request) -> Any:
        """One text per line in; one JSON line out per text (in input order) as soon as it is classified."""
        return Streamed(batcher, settings, info.labels, request.scope)

    @app.get("/health", summary="Whether the model is loaded and how many texts wait")
    async def health() -> Any:
        return {"status": "ok", "queued": batcher.queued}

    @app.get("/info", summary="The model, its labels, input settings and card metrics")
    async def info_route() -> Any:
        return {"model": info.model, "mode": info.mode, "labels": info.labels, "max_length": info.max_length,
                "truncation": info.truncation, "metrics": info.metrics, "eval_split": info.eval_split, "card": info.card_line(),
                "flag": settings.flag, "threshold": settings.threshold if settings.flag else None,
                "limits": {"max_texts": settings.max_texts, "max_text_chars": settings.max_text_chars,
                           "max_body_bytes": settings.max_body_bytes, "max_queue": settings.max_queue,
                           "batch_tokens": settings.batch_tokens, "max_wait_ms": settings.max_wait_ms}}

    return GuardAndLog(app, settings.api_key, log)


class NdjsonStream:
    """An ASGI response that reads the request's lines and writes predictions at the same time."""

    def __init__(self, batcher: "MicroBatcher", settings: ServeSettings, labels: list[str], scope: dict):
        self.batcher, self.settings, self.labels, self.scope = batcher, settings, labels, scope
        self.background = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        from bertcli.core.deploy.batcher import Overloaded

        queue: asyncio.Queue = asyncio.Queue(maxsize=STREAM_IN_FLIGHT)
        loop = asyncio.get_running_loop()
        limit = self.settings.max_text_chars

        async def put_line(raw: bytes) -> None:
            line = raw.rstrip(b"\r")
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                await queue.put({"error": "not valid UTF-8"})
                return
            if len(text) > limit:
                await queue.put({"error": f"text longer than {limit:,} characters (--max-text-chars)"})
            elif not text.strip():
                await queue.put({"error": "empty text"})
            else:
                try:
                    futures = await loop.run_in_executor(None, self.batcher.submit, [text])
                    await queue.put(futures[0])
                except Overloaded as err:
                    await queue.put({"error": f"the server is busy: {err}"})

        async def reader() -> None:
            buffer = b""
            overlong = False
            try:
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    buffer += message.get("body", b"")
                    while b"\n" in buffer:
                        raw, buffer = buffer.split(b"\n", 1)
                        if overlong:  # the rest of a line already answered as too long
                            overlong = False
                            continue
                        await put_line(raw)
                    if len(buffer) > 4 * limit + 4:
                        await queue.put({"error": f"text longer than {limit:,} characters (--max-text-chars)"})
                        buffer, overlong = b"", True
                    if not message.get("more_body", False):
                        if buffer and not overlong:
                            await put_line(buffer)
                        return
            finally:
                await queue.put(None)

        task = asyncio.create_task(reader())
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/x-ndjson"), (b"cache-control", b"no-cache")]})
        index, largest = 0, 0
        try:
            while True:
                item = await queue.get()
                if item is None:
                    break
                if isinstance(item, dict):
                    record = {"index": index, "label": None, "confidence": None, **item}
                else:
                    served = await asyncio.wrap_future(item)
                    largest = max(largest, served.batch_texts)
                    record = _record(served, self.labels, index, self.settings.flag)
                await send({"type": "http.response.body", "body": (json.dumps(record) + "\n").encode(), "more_body": True})
                index += 1
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            task.cancel()
        self.scope.setdefault("state", {})["bertcli"] = (index, largest)


class GuardAndLog:
    """ASGI middleware: the API key on every request (when one is set), then one access-log line per request."""

    def __init__(self, app: Any, api_key: str | None, log: Callable[[str], None]):
        self.app, self.api_key, self.log = app, api_key, log

    def _authorized(self, scope: dict) -> bool:
        if self.api_key is None:
            return True
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        given = headers.get("x-api-key") or ""
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        return hmac.compare_digest(given.encode(), self.api_key.encode())

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: list[int] = [0]

        async def sending(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            if not self._authorized(scope):
                body = json.dumps({"error": "missing or wrong API key — send it as 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"}).encode()
                await sending({"type": "http.response.start", "status": 401,
                               "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": body})
            else:
                await self.app(scope, receive, sending)
        finally:
            texts, batch = (scope.get("state") or {}).get("bertcli", (0, 0))
            client = scope.get("client") or ("-", 0)
            self.log(f"{client[0]} {scope['method']} {scope['path']} {status[0]} {1000 * (time.perf_counter() - started):.1f} ms "
                     f"texts={texts} batch={batch}")


def serve(clf: "Classifier", settings: ServeSettings, log: Callable[[str], None]) -> None:
    """Run the server until SIGINT/SIGTERM; in-flight requests finish (up to graceful_seconds) before it exits."""
    import contextlib
    import signal

    import uvicorn

    from bertcli.core.deploy.batcher import MicroBatcher
    from bertcli.core.inference.predict import check_flag

    check_settings(settings)
    flag, min_confidence = check_flag(settings.flag, settings.threshold, clf.label_names)
    settings.flag, settings.threshold = flag, (min_confidence if flag else None)
    batcher = MicroBatcher(clf, batch_tokens=settings.batch_tokens, max_wait_ms=settings.max_wait_ms,
                           max_queue=settings.max_queue, flag=flag, threshold=min_confidence)
    app = build_app(clf, batcher, settings, log)
    info = model_info(clf)
    shown_host = f"[{settings.host}]" if ":" in settings.host else settings.host

    class Server(uvicorn.Server):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            if not self.should_exit:
                port = self.servers[0].sockets[0].getsockname()[1] if self.servers and self.servers[0].sockets else settings.port
                log(f"serving {info.card_line()}")
                log(f"listening on http://{shown_host}:{port} (docs at /docs){' — API key required' if settings.api_key else ''}")

        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            """SIGINT/SIGTERM start the graceful shutdown; the process then ends normally (exit 0), not by the signal."""
            before = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in before.items():
                    signal.signal(sig, handler)

        async def shutdown(self, sockets: Any = None) -> None:
            log("shutting down: finishing the requests in flight")
            await super().shutdown(sockets=sockets)

    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=settings.graceful_seconds, lifespan="off", server_header=False)
    batcher.start()
    try:
        Server(config).run()
    finally:
        batcher.close(timeout=settings.graceful_seconds)
        log(f"stopped after {batcher.texts:,} texts in {batcher.batches:,} batches")
