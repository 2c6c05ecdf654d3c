"""What a run was: the command (secrets masked), the code's commit, and the data each env plays, with
a content fingerprint, for ``run.json`` (see :mod:`harness.run_dir`).

    env_data("webshop", "test", {})   # {"data_source": "generated", "data_fingerprint": "bundle:v3", ...}
    redact_command(["agentdistill", "eval", "--agent-opt", "api_key=sk-..."])   # api_key=[REDACTED]
"""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Sequence
from importlib import import_module
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from agents.redact import is_secret_name, redact, redact_text

_URL = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"]+")
#: info keys an env may report about how it plays (upstream protocol and its deviations)
PROTOCOL_KEYS = ("protocol",)


def env_data(env: str, split: str, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The data ``env``'s ``split`` plays with ``env_kwargs``: ``info["data_source"]`` of its first task
    (``"generated"`` or the official path), a fingerprint of that data's content and, where the env
    reports one, its ``info["protocol"]``."""
    import envs

    instance = envs.make(env, split=split, **env_kwargs)
    try:
        first = list(instance.unwrapped.task_ids)[:1]
        _, info = instance.reset(seed=0, options={"task_id": first[0]} if first else None)
        source = str(info.get("data_source", "unknown"))
        record: dict[str, Any] = {
            "data_source": source,
            "data_fingerprint": data_fingerprint(source, type(instance.unwrapped).__module__),
        }
        for key in PROTOCOL_KEYS:
            if key in info:
                record[key] = redact(info[key])
    finally:
        instance.close()
    return record


def data_fingerprint(source: str, env_module: str = "") -> str:
    """A cheap content fingerprint of the data at ``source``.

    A path: SHA-256 (first 16 hex digits) over the relative name, size and modification time of every
    file under it, so replaced, added, removed or edited files change it. ``"generated"``: the bundle
    version of the env's package (``BUNDLE_VERSION`` or ``VERSION`` in ``<package>.data``, which names
    what the generator writes), ``bundle:unversioned`` when the package has none."""
    if source != "generated":
        return "files:" + _files_digest(Path(source))
    package = env_module.rpartition(".")[0]
    try:
        data_module = import_module(f"{package}.data") if package else None
    except ImportError:
        data_module = None
    version = getattr(data_module, "BUNDLE_VERSION", None) or getattr(data_module, "VERSION", None)
    return f"bundle:{version or 'unversioned'}"


def _files_digest(path: Path) -> str:
    if not path.exists():
        return "missing"
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        stat = file.stat()
        name = file.name if file == path else file.relative_to(path).as_posix()
        digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:16]


def secret_values(argv: Sequence[str]) -> list[str]:
    """The secrets given on a command line: the values of ``KEY=VALUE`` / ``--key=VALUE`` /
    ``--key VALUE`` whose key names a secret (``api_key``, ``--hf-token``), and the passwords and
    secret-named query values of URLs (``https://user:PASSWORD@host``), so that they can be masked
    wherever they turn up, also in a message that quotes them mangled (a URL read as a path)."""
    values = []
    for arg, following in zip(argv, [*argv[1:], ""], strict=True):
        key, sep, value = arg.partition("=")
        if sep and is_secret_name(key.lstrip("-")):
            values.append(value)
        elif arg.startswith("--") and not sep and is_secret_name(arg[2:]):
            values.append(following)
        for url in _URL.findall(arg):
            try:
                parts = urlsplit(url)
                values.append(parts.password or "")
            except ValueError:
                continue
            values += [v for k, v in parse_qsl(parts.query) if is_secret_name(k)]
    return [value for value in values if value]


def redact_command(argv: Sequence[str]) -> list[str]:
    """``argv`` with its :func:`secret_values` (of 4 characters or more), URL passwords and secret URL
    query values masked."""
    secrets = secret_values(argv)
    return [redact(redact_text(arg, secrets)) for arg in argv]


def commit() -> str | None:
    """The git commit of the code that runs (``git describe --always --dirty``), or None outside a
    git checkout."""
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "describe", "--always", "--dirty", "--abbrev=40"],
            capture_output=True, text=True, timeout=10, check=False, env={**os.environ, "LC_ALL": "C"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None
