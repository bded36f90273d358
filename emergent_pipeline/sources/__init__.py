"""Price sources: where the long OHLCV table, the universe, fundamentals and the benchmark come from.

Three kinds share one interface (:class:`~emergent_pipeline.sources.base.PriceSource`): the bundled
real S&P 500 panel (the default, offline), yfinance downloads, and a user's CSV/Parquet file.
"""
