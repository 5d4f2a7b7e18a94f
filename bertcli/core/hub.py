"""Hub access that never hangs: probe once, fall back to the local cache, fail with one clear line."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from bertcli.core.errors import HubUnreachableError

OFFLINE_VARS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
PROBE_TIMEOUT_S = 3.0


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


_went_offline_ourselves = False


def offline_requested() -> bool:
    """True when the user asked for offline mode with one of the usual environment variables."""
    if _went_offline_ourselves:
        return False
    return any(_truthy(os.environ.get(var)) for var in OFFLINE_VARS)


@functools.lru_cache(maxsize=None)
def hub_reachable(timeout: float = PROBE_TIMEOUT_S) -> bool:
    """One short request to the hub endpoint through the hub client's own HTTP session.

    The session honours HF_ENDPOINT and the proxy variables (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) as the
    downloads themselves will; any HTTP answer counts as reachable, only a failed connection does not.
    """
    from huggingface_hub import constants
    from huggingface_hub.utils import get_session

    endpoint = os.environ.get("HF_ENDPOINT") or constants.ENDPOINT
    try:
        get_session().head(endpoint, timeout=timeout, follow_redirects=False)
    except Exception:  # connection refused, DNS failure, proxy failure, timeout: all the same here
        return False
    return True


def prepare_hub_access() -> bool:
    """Decide once, before the hub libraries are imported, whether to go online.

    Returns True when the hub will be used; otherwise sets the offline variables so that
    transformers and datasets read only their caches instead of retrying for a minute.
    """
    if offline_requested():
        online = False
    else:
        online = hub_reachable()
    if not online:
        global _went_offline_ourselves
        _went_offline_ourselves = _went_offline_ourselves or not offline_requested()
        for var in OFFLINE_VARS:
            os.environ[var] = "1"
        try:  # the libraries may already be imported: keep their constants in step
            import huggingface_hub.constants as hub_constants

            hub_constants.HF_HUB_OFFLINE = True
        except ImportError:  # pragma: no cover - huggingface_hub ships with transformers
            pass
    return online


def unreachable(kind: str, name: str, flag: str, fix: str | None = None) -> HubUnreachableError:
    """The one error for a hub name that is neither reachable nor cached; `fix` where the caller knows a better one."""
    why = "offline mode is on (HF_HUB_OFFLINE)" if offline_requested() else "the Hugging Face hub cannot be reached"
    if "/" in name and not Path(name).expanduser().exists():  # a name that reads like a path as well as a hub id
        parent = Path(name).expanduser().parent
        where = f"no folder '{name}' here" + ("" if parent.is_dir() else f" (nor '{parent}')")
        why = f"{where}, and as a hub name it is not in the local cache and {why}"
        if fix:
            return HubUnreachableError(f"{kind} '{name}': {why} — check the path, or {fix}")
        return HubUnreachableError(
            f"{kind} '{name}': {why} — check the path, or use local copies: {flag} PATH (a folder that exists)"
        )
    if fix:
        return HubUnreachableError(f"{kind} '{name}' is not in the local cache and {why} — {fix}")
    return HubUnreachableError(
        f"{kind} '{name}' is not in the local cache and {why} — use local copies instead: "
        f"--model PATH (a saved model folder), --dataset PATH (a hub-layout folder, CSV/JSONL/Parquet file or aclImdb/)"
    )
