"""The model registry: every trained LightGBM model is an artifact, for research and live alike.

An artifact is one fit of the model the policy defines (its *spec*,
:func:`tradeops.research.promotion.model_id`: signal + model settings + model
code, the thing the promotion gate grants or refuses).  It is identified by
what went into it::

    <registry>/<spec_id>/verdict.json                  the promotion verdict (promotion.record)
    <registry>/<spec_id>/fits/<model_id>/model.txt     the LightGBM booster (text, exact thresholds)
    <registry>/<spec_id>/fits/<model_id>/artifact.json training window, data hash, code hash, params, symbols

``model_id = <spec_id>.<train_end YYYYMMDD>.<digest>`` where the digest covers
the spec, the training window, the symbols and the sha256 of the bars the fit
read (Qlib's ``$close``/``$volume`` over the window and its feature warm-up).
The same bars and the same spec always give the same id, so a backtest and the
live run that fit the same window share one artifact, and the id the ticket
carries names exactly the model that scored it.  The registry folder lives
under the workspace's ``data/`` (ignored by git).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

from .. import audit, files
from ..config import Policy, Research
from ..errors import DataError, ValidationError

# the files whose code is the model (any change is a new model spec)
MODEL_FILES = ("research/model.py", "research/qlib_data.py", "signals.py")
# the policy keys that change what the model is (not how the book is run)
MODEL_KEYS = ("train_sessions", "purge_sessions", "label_horizon", "retrain_every", "num_boost_round", "num_leaves", "learning_rate")


def model_code_hash() -> str:
    """sha256 of the model code (:data:`MODEL_FILES`)."""
    root = Path(audit.__file__).resolve().parent
    code = hashlib.sha256()
    for rel in MODEL_FILES:
        code.update(rel.encode() + b"\0" + (root / rel).read_bytes())
    return code.hexdigest()


def model_params(research: Research) -> dict:
    """The settings that make the model what it is (:data:`MODEL_KEYS`)."""
    return {k: getattr(research, k) for k in MODEL_KEYS}


def spec_id(research: Research, signal: str = "qlib_lgbm") -> str:
    """The model spec: the signal, its model settings and the model code.  Any change to one
    of them is a different model that needs its own promotion; every trained fit of it
    (:mod:`tradeops.research.registry`) carries this id as its prefix."""
    spec = {"signal": signal, "research": model_params(research), "code": model_code_hash()}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
    return f"{signal}-{digest[:12]}"


def model_id(policy: Policy) -> str:
    """What the live signal would run (:func:`spec_id` of the policy's signal and research settings)."""
    return spec_id(policy.research, policy.strategy.signal)


def promotion_gate(registry: str | Path, policy: Policy) -> dict:
    """The live signal's gate: the model ``policy`` would run must have a GRANTED verdict."""
    mid = model_id(policy)
    path = Path(registry) / mid / "verdict.json"
    if not path.exists():
        return {
            "name": "model_promotion",
            "passed": False,
            "reasons": [f"model {mid} has no promotion verdict in {Path(registry)}: run `tradeops model promote` first"],
            "details": {"model_id": mid},
        }
    body = json.loads(path.read_text())
    if body.get("verdict") != "GRANTED":
        failed = [c["reason"] for c in body.get("checks", []) if not c["passed"]]
        return {
            "name": "model_promotion",
            "passed": False,
            "reasons": [f"model {mid} was refused promotion on {body.get('decided_at')}: " + "; ".join(failed)],
            "details": {"model_id": mid},
        }
    return {"name": "model_promotion", "passed": True, "reasons": [f"model {mid} promoted on {body.get('decided_at')}"], "details": {"model_id": mid}}


@dataclass(frozen=True)
class ModelArtifact:
    model_id: str
    spec_id: str
    retrain_session: date  # the calendar's retrain session this fit serves (from it to the next one)
    train_start: date
    train_end: date
    data_hash: str  # sha256 of the bars the fit read
    code_hash: str  # sha256 of the model code (promotion.MODEL_FILES)
    params: dict  # the model settings (promotion.MODEL_KEYS) and the LightGBM seed
    symbols: tuple[str, ...]

    def to_dict(self) -> dict:
        out = asdict(self)
        for key in ("retrain_session", "train_start", "train_end"):
            out[key] = getattr(self, key).isoformat()
        out["symbols"] = list(self.symbols)
        return out

    @classmethod
    def from_dict(cls, body: dict) -> "ModelArtifact":
        try:
            return cls(
                model_id=body["model_id"],
                spec_id=body["spec_id"],
                retrain_session=date.fromisoformat(body["retrain_session"]),
                train_start=date.fromisoformat(body["train_start"]),
                train_end=date.fromisoformat(body["train_end"]),
                data_hash=body["data_hash"],
                code_hash=body["code_hash"],
                params=dict(body["params"]),
                symbols=tuple(body["symbols"]),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(f"model artifact is malformed ({type(err).__name__}: {err})") from None

    def summary(self) -> dict:
        """What the signal file, the ticket and the run manifest carry."""
        return {
            "model_id": self.model_id,
            "spec_id": self.spec_id,
            "train_start": self.train_start.isoformat(),
            "train_end": self.train_end.isoformat(),
            "data_hash": self.data_hash,
        }


def artifact_id(spec_id: str, retrain_session: date, train_start: date, train_end: date, data_hash: str, symbols) -> str:
    spec = {
        "spec": spec_id,
        "retrain": retrain_session.isoformat(),
        "train": [train_start.isoformat(), train_end.isoformat()],
        "data": data_hash,
        "symbols": sorted(symbols),
    }
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()
    return f"{spec_id}.{train_end:%Y%m%d}.{digest[:12]}"


class ModelRegistry:
    """The folder of artifacts; ``None`` where a caller takes one means: train, keep nothing."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"ModelRegistry({str(self.root)!r})"

    def folder(self, spec_id: str, model_id: str) -> Path:
        if not model_id.startswith(spec_id + "."):
            raise ValidationError(f"model id {model_id!r} is not a fit of the model spec {spec_id!r}")
        return self.root / spec_id / "fits" / model_id

    def find(self, spec_id: str, model_id: str) -> tuple[ModelArtifact, str] | None:
        """The artifact and its booster text, or None when this fit was never stored."""
        folder = self.folder(spec_id, model_id)
        meta, booster = folder / "artifact.json", folder / "model.txt"
        if not (meta.exists() and booster.exists()):
            return None
        artifact = ModelArtifact.from_dict(json.loads(meta.read_text()))
        if artifact.model_id != model_id:
            raise DataError(f"{meta} holds model {artifact.model_id!r}, not {model_id!r}")
        return artifact, booster.read_text()

    def save(self, artifact: ModelArtifact, booster_text: str) -> Path:
        folder = self.folder(artifact.spec_id, artifact.model_id)
        files.write_atomic(folder / "model.txt", booster_text)
        files.write_json(folder / "artifact.json", artifact.to_dict())  # last: its presence means the fit is complete
        return folder

    def fits(self, spec_id: str) -> list[ModelArtifact]:
        """Every stored fit of ``spec_id``, oldest training window first."""
        base = self.root / spec_id / "fits"
        found = [ModelArtifact.from_dict(json.loads(p.read_text())) for p in base.glob("*/artifact.json")] if base.exists() else []
        return sorted(found, key=lambda a: (a.train_end, a.model_id))
