"""Request and response models of the REST API, with the guide's names and fields."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictFloat, StringConstraints, field_validator

from emergent_pipeline.core.strategies.registry import STRATEGY_NAMES

SYMBOL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9.\-^=&]{0,19}$"
"""A ticker as exchanges write it: a letter or a digit first (``..``, ``-``, ``====`` are no ticker), then
letters, digits and the marks exchanges put in tickers: a class or market suffix (``BRK.B``,
``RELIANCE.NS``), a dash (``BAJAJ-AUTO``), an ampersand (NSE's ``M&M``), ``^`` and ``=``; 20 characters at most."""
VALID_STRATEGIES = (*STRATEGY_NAMES, "consensus", "ml_consensus")
ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def iso_day(value: object) -> object:
    """A day as the schema declares it (a ``YYYY-MM-DD`` string), not any of the other forms pydantic
    would also turn into a date (numbers as timestamps, ...)."""
    if value is None or isinstance(value, date):
        return value
    if not isinstance(value, str) or not ISO_DAY.match(value):
        raise ValueError("a day is written YYYY-MM-DD")
    return value


def whole_number(value: object) -> object:
    """An integer as JSON Schema defines one: a number with no fractional part (358.0 is one), and
    neither a string nor a boolean."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("an integer is required")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("an integer is required")
        return int(value)
    return value


WholeNumber = Annotated[int, BeforeValidator(whole_number)]
Ticker = Annotated[str, StringConstraints(pattern=SYMBOL_PATTERN, min_length=1, max_length=20)]
Day = Annotated[date, BeforeValidator(iso_day)]
Strategy = Literal[VALID_STRATEGIES]  # type: ignore[valid-type]


class _Request(BaseModel):
    """Strict: a field takes the JSON type the schema declares (no "true" for true, no "5" for 5),
    and a field the schema does not declare is an error, so the OpenAPI document is the contract."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("symbols", check_fields=False)
    @classmethod
    def symbols_are_tickers(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [s.upper() for s in value]


class MLEnhancedRequest(_Request):
    shariah_only: StrictBool = Field(False, description="Keep only signals Shariah-COMPLIANT on their own day (UNKNOWN too with admit_unknown).")
    admit_unknown: StrictBool = Field(False, description="With shariah_only: also keep signals whose status is UNKNOWN (ratios not computable).")
    max_symbols: WholeNumber = Field(50, ge=1, le=500, description="Signals of at most this many distinct symbols, best first.")
    min_ml_probability: StrictFloat = Field(0.0, ge=0.0, le=1.0, description="Drop signals whose ml_probability is below this.")
    symbols: list[Ticker] | None = Field(None, max_length=500, description="Only these tickers (a letter or digit, then letters, digits, "
                                                                         "'.', '-', '&', '^', '='; case ignored).")
    recommended_only: StrictBool = Field(False, description="Keep only signals the model recommends (ml_recommendation other than SKIP; "
                                                            "unscored ones are left out too).")
    as_of: Day | None = Field(None, description="The day to report, YYYY-MM-DD (default: the newest stored day; a later day means the newest, "
                                                 "an earlier one than the data an empty answer that says so).")


class GenerateRequest(MLEnhancedRequest):
    strategy: Strategy = Field("consensus", description="One of the ten strategies, 'consensus' or 'ml_consensus' (consensus with the ML filter).")
    min_confidence: StrictFloat = Field(0.0, ge=0.0, le=1.0, description="Minimum confidence (the ML probability for ml_consensus).")
    enable_ml_filter: StrictBool = Field(False, description="Apply min_confidence to ml_probability (ml_consensus).")


class MarketContextModel(BaseModel):
    date: str | None
    index: str | None = Field(None, description="The index it is read from: the source's, or the universe's equal-weight index.")
    regime: str
    volatility: float | None
    trend_20d: float | None
    above_sma_50: bool | None
    above_sma_200: bool | None
    interpretation: dict[str, str | None]


class ProbabilityRecordModel(BaseModel):
    """What signals issued at this signal's probability band have meant in the as-issued record,
    counting only the outcomes known by the answer's day."""

    model_config = ConfigDict(extra="allow")
    probability: str = Field(description="The band of ml_probability, e.g. 0.60-0.75.")
    signals: int = Field(description="Resolved signals whose own-day score fell in the band.")
    made_money_of_100: float | None = Field(None, description="Of 100 of them, how many made money after costs.")
    made_money_low: float | None = None
    made_money_high: float | None = Field(None, description="95 % Wilson interval of made_money_of_100.")
    mean_return: float | None = Field(None, description="Mean net return per trade after costs (fraction).")
    mean_return_low: float | None = None
    mean_return_high: float | None = Field(None, description="95 % day-block bootstrap interval of mean_return.")
    known_on: str = Field(description="Outcomes resolved by this day's close are counted, no later ones.")
    summary: str = Field(description="The record in words.")


class SignalModel(BaseModel):
    model_config = ConfigDict(extra="allow")
    symbol: str
    date: str
    signal_type: Literal["BUY", "SELL"]
    entry_price: float | None = None
    target_price: float | None = None
    stop_loss: float | None = None
    ml_probability: float | None = None
    ml_recommendation: str | None = Field(None, description="The recommendation, from the components that have earned their place on its issue day.")
    model_recommendation: str | None = Field(None, description="The model's own recommendation, before the earn-its-place rule.")
    recommendation_basis: str | None = Field(None, description="Which components the recommendation used or suspended, and why.")
    feature_distance: float | None = Field(None, description="Distance of the signal's features from the scoring model's training rows, "
                                                             "as a multiple of their 99th percentile.")
    out_of_distribution: bool | None = Field(None, description="feature_distance above 1: the score extrapolates beyond the training data.")
    model_age_days: float | None = Field(None, description="Days from the newest outcome the scoring model learned to the answer's day.")
    score_stale: bool | None = Field(None, description="model_age_days above 90: the score comes from a model past its age limit.")
    position_size: float | None = Field(
        None, description="Fraction of capital: a quarter of Kelly from ml_probability and the reward/risk, at most 0.10; none while the "
                          "probability is suspended or the signal unscored.")
    ml_quality_score: str | None = None
    confidence_adjustment: float | None = None
    model_version: str | None = None
    market_context: MarketContextModel | None = None
    probability_record: ProbabilityRecordModel | None = Field(None, description="The record of the signal's probability band (none unscored).")


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
    unknown_symbols: list[str] = Field(default_factory=list, description="Requested symbols the stored universe does not have.")
    recommended_filter: dict[str, str] = Field(
        default_factory=dict, description="The performance summary's current verdict on the recommended signals, per out-of-sample record.")
    recommended_filter_known_on: str | None = Field(
        None, description="The day that verdict was computed on: for an earlier as_of it counts outcomes that day did not know yet.")


class ErrorResponse(BaseModel):
    success: bool = False
    detail: str


class HealthResponse(BaseModel):
    status: Literal["ok"]
    snapshot: bool


class ReadinessResponse(BaseModel):
    status: Literal["ready", "not ready"]
    champion_version: str | None
    newest_price_date: str | None
    reasons: list[str] = Field(description="Why the server cannot serve (empty when ready).")
    warnings: list[str] = Field(default_factory=list, description="What to know although it serves (e.g. a newer snapshot that "
                                                                   "cannot be opened, the previous one serving instead).")


class StrategyInfo(BaseModel):
    name: str
    weight: float = Field(description="Its weight in the consensus of the stored signals (the default where it never voted).")
    weight_from: str = Field(description="Where the weight comes from: the stored consensus, or the default.")
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
    figures_model_version: str | None = Field(description="The model whose scores the served figures describe.")
    champion_version: str | None = Field(description="The registry's champion now.")
    figures_current: bool = Field(description="Whether the figures are the champion's; when not, `note` says what to run.")
    ml_enhancement_rate: float
    average_ml_probability: float | None
    average_confidence_adjustment: float | None
    recommendation_distribution: dict[str, int]
    quality_distribution: dict[str, int]
    out_of_sample: list[dict]
    tearsheet: list[dict] = Field(default_factory=list, description="Per record and portfolio: the tearsheet's statistics (quantstats).")
    signal_ic: list[dict] = Field(default_factory=list, description="Per record and score: daily IC / Rank IC with intervals, and ICIR.")
    quantile_groups: list[dict] = Field(default_factory=list, description="Per record and score: each quintile's record.")
    note: str


class StatusResponse(BaseModel):
    success: bool
    system_status: dict = Field(description="The guide's shape: status, data_status, ml_status, pipeline_status.")
    data: dict[str, str | int | None]
    models: dict[str, str | None]
    recent_runs: list[dict[str, str | None]]
    recent_failures: list[dict]
    generated_at: str
