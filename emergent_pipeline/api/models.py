"""Request and response models of the REST API, with the guide's names and fields."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from emergent_pipeline.core.strategies.registry import STRATEGY_NAMES

SYMBOL_PATTERN = r"^[A-Za-z0-9.\-^=]{1,15}$"


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("symbols", check_fields=False)
    @classmethod
    def symbols_are_tickers(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [s.upper() for s in value]


class MLEnhancedRequest(_Request):
    shariah_only: bool = Field(False, description="Keep only signals Shariah-COMPLIANT on their own day (UNKNOWN too with admit_unknown).")
    admit_unknown: bool = Field(False, description="With shariah_only: also keep signals whose status is UNKNOWN (ratios not computable).")
    max_symbols: int = Field(50, ge=1, le=500, description="Signals of at most this many distinct symbols, best first.")
    min_ml_probability: float = Field(0.0, ge=0.0, le=1.0, description="Drop signals whose ml_probability is below this.")
    symbols: list[str] | None = Field(None, max_length=500, description="Only these tickers.")
    as_of: date | None = Field(None, description="The day to report (default: the newest stored day).")

    @field_validator("symbols")
    @classmethod
    def tickers(cls, value):
        import re

        for symbol in value or []:
            if not re.match(SYMBOL_PATTERN, symbol):
                raise ValueError(f"{symbol!r} is not a ticker")
        return None if value is None else [s.upper() for s in value]


class GenerateRequest(MLEnhancedRequest):
    strategy: str = Field("consensus", description=f"One of {', '.join(STRATEGY_NAMES)}, 'consensus' or 'ml_consensus'.")
    min_confidence: float = Field(0.0, ge=0.0, le=1.0, description="Minimum confidence (the ML probability for ml_consensus).")
    enable_ml_filter: bool = Field(False, description="Apply min_confidence to ml_probability (ml_consensus).")


class MarketContextModel(BaseModel):
    date: str | None
    regime: str
    volatility: float | None
    trend_20d: float | None
    above_sma_50: bool | None
    above_sma_200: bool | None
    interpretation: dict[str, str | None]


class SignalModel(BaseModel):
    model_config = ConfigDict(extra="allow")
    symbol: str
    date: str
    signal_type: Literal["BUY", "SELL"]
    entry_price: float | None = None
    target_price: float | None = None
    stop_loss: float | None = None
    ml_probability: float | None = None
    ml_recommendation: str | None = None
    ml_quality_score: str | None = None
    confidence_adjustment: float | None = None
    model_version: str | None = None
    market_context: MarketContextModel | None = None


class ShariahFilterModel(BaseModel):
    shariah_only: bool
    admit_unknown: bool
    standard: str | None = Field(description="The standard of the stored screen (SP, DJIM, MSCI or AAOIFI).")
    policy: str = Field(description="The policy applied, in words.")
    admitted_statuses: list[str]
    excluded: dict[str, int] = Field(description="Live signals of the day the policy excluded, per status.")


class SignalsResponse(BaseModel):
    success: bool
    signals_count: int
    signals: list[SignalModel]
    ml_statistics: dict
    filter_threshold: float
    generated_at: str
    as_of: str
    strategy: str | None = None
    live_signals: int = Field(description="Signals live on the day before the request's filters.")
    shariah_filter: ShariahFilterModel
    note: str | None = Field(None, description="Why the answer is empty, when it is.")


class ErrorResponse(BaseModel):
    success: bool = False
    detail: str


class HealthResponse(BaseModel):
    status: Literal["ok"]
    snapshot: bool


class StrategyInfo(BaseModel):
    name: str
    weight: float
    parameters: dict[str, float | int | bool | str | None]


class StrategiesResponse(BaseModel):
    strategies: list[StrategyInfo]
    special: list[str]
    model_features: list[str]


class MLTestResponse(BaseModel):
    success: bool
    model_version: str
    symbol: str
    date: str | None
    ml_probability: float
    latency_ms: float
    model_load_ms: float


class PerformanceResponse(BaseModel):
    model_config = ConfigDict(extra="allow")
    success: bool
    ml_enhancement_rate: float
    average_ml_probability: float | None
    average_confidence_adjustment: float | None
    recommendation_distribution: dict[str, int]
    quality_distribution: dict[str, int]
    out_of_sample: list[dict]
    note: str


class StatusResponse(BaseModel):
    success: bool
    data: dict[str, str | int | None]
    models: dict[str, str | None]
    recent_runs: list[dict[str, str]]
    recent_failures: list[dict]
    generated_at: str
