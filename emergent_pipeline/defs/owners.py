"""Who answers for each group of assets, shown in the catalog and on each asset's page: the data
team for what comes in, the quants for the rules and their record, ML for the models, the platform
team for what the API serves."""

OWNERS = {
    "prices": ["team:data"],
    "market": ["team:quant"],
    "signals": ["team:quant"],
    "ml": ["team:ml"],
    "performance": ["team:quant"],
    "serving": ["team:platform"],
}
