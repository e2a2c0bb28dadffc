"""Admin API bodies, validated by pydantic in strict mode: finite numbers within bounds, no extras."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class TokenRequest(_Body):
    """POST /wilton/token."""

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class TargetRequest(_Body):
    """PUT /wilton/target: the global target (null resets to the config value) or a team's."""

    phi_target: float | None = Field(ge=0.0, le=1.0, allow_inf_nan=False)
    team: str | None = Field(default=None, min_length=1, max_length=128)


class WeightsRequest(_Body):
    """PUT /wilton/weights: a partial update of runtime weights and/or the tier bias."""

    weights: dict[str, float] | None = None
    phi_bias: float | None = Field(default=None, ge=-0.5, le=0.5, allow_inf_nan=False)

    def model_post_init(self, context: object, /) -> None:
        """Each weight is finite and >= 0 (checked here so the error names the deployment)."""
        for key, value in (self.weights or {}).items():
            if not (0.0 <= value < float("inf")):
                raise ValueError(f"weights[{key!r}] must be a finite number >= 0")
