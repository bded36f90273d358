"""Business activity of a company from its industry label: the first stage of every Shariah screen.

A label comes from a classification (GICS sub-industry or sector, as the S&P data has them; NSE's
sectors, industries and basic industries, as Indian data has them; Yahoo's sectors and industries, as
yfinance's ``info`` has them) and maps to one of three answers:

* a **prohibited activity** (conventional finance, alcohol, tobacco, gambling, defence, and under
  the strict standards hotels/cruise lines and entertainment): NON_COMPLIANT whatever the balance sheet;
* **permissible**: the ratio screens decide;
* **undecidable from this label**: a broad label (a GICS sector, an old NSE industry) covering both
  permissible and prohibited businesses, or a label this table does not know. The status is then
  UNKNOWN with that reason, never a pass: a screen that admits what it could not check would certify
  the very companies it knows nothing about.

The most specific label a symbol has decides (``sub_industry``, then ``sector``). The tables below are
the documented mapping; a label is matched case-insensitively, with '&' and 'and' alike. One
exception keeps the earlier behaviour: a missing sub-industry in the GICS sector 'Financials' is taken
as conventional finance, the bulk of that sector, and the reason says it was inferred.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

FINANCE, ALCOHOL, TOBACCO, GAMBLING, DEFENCE = "conventional finance", "alcohol", "tobacco", "gambling", "defence"
HOTELS, ENTERTAINMENT, PORK, ADULT = "hotels and cruise lines", "entertainment", "pork", "adult entertainment"
STRICT_ONLY = frozenset({HOTELS, ENTERTAINMENT})
"""Prohibited only under the strict standards (alcohol and impermissible entertainment on the premises)."""


@dataclass(frozen=True)
class Rule:
    """What a label says: ``activity`` is the prohibited activity ('' when permissible); a broad label
    lists in ``may_include`` the prohibited activities some of its members carry on."""

    activity: str = ""
    may_include: tuple[str, ...] = ()
    inferred: bool = False  # a broad label taken as its dominant activity (GICS Financials)


P = Rule()
GICS_SUB_INDUSTRIES: dict[str, Rule] = {
    # Energy
    **dict.fromkeys(["Oil & Gas Drilling", "Oil & Gas Equipment & Services", "Integrated Oil & Gas",
                     "Oil & Gas Exploration & Production", "Oil & Gas Refining & Marketing",
                     "Oil & Gas Storage & Transportation", "Coal & Consumable Fuels"], P),
    # Materials
    **dict.fromkeys(["Commodity Chemicals", "Diversified Chemicals", "Fertilizers & Agricultural Chemicals",
                     "Industrial Gases", "Specialty Chemicals", "Construction Materials", "Metal & Glass Containers",
                     "Metal, Glass & Plastic Containers", "Paper Packaging", "Paper & Plastic Packaging Products & Materials",
                     "Aluminum", "Diversified Metals & Mining", "Copper", "Gold", "Precious Metals & Minerals", "Silver",
                     "Steel", "Forest Products", "Paper Products"], P),
    # Industrials (aerospace and defence excluded)
    "Aerospace & Defense": Rule(DEFENCE),
    **dict.fromkeys(["Building Products", "Construction & Engineering", "Electrical Components & Equipment",
                     "Heavy Electrical Equipment", "Industrial Conglomerates", "Construction Machinery & Heavy Trucks",
                     "Construction Machinery & Heavy Transportation Equipment", "Agricultural & Farm Machinery",
                     "Industrial Machinery", "Industrial Machinery & Supplies & Components",
                     "Trading Companies & Distributors", "Commercial Printing", "Environmental & Facilities Services",
                     "Office Services & Supplies", "Diversified Support Services", "Security & Alarm Services",
                     "Human Resource & Employment Services", "Research & Consulting Services",
                     "Data Processing & Outsourced Services", "Air Freight & Logistics", "Airlines", "Passenger Airlines",
                     "Marine", "Marine Transportation", "Railroads", "Rail Transportation", "Trucking",
                     "Cargo Ground Transportation", "Passenger Ground Transportation", "Airport Services",
                     "Highways & Railtracks", "Marine Ports & Services"], P),
    # Consumer discretionary (casinos excluded; hotels and cruise lines under the strict standards)
    "Casinos & Gaming": Rule(GAMBLING),
    "Hotels, Resorts & Cruise Lines": Rule(HOTELS),
    **dict.fromkeys(["Automotive Parts & Equipment", "Tires & Rubber", "Automobile Manufacturers", "Motorcycle Manufacturers",
                     "Consumer Electronics", "Home Furnishings", "Homebuilding", "Household Appliances",
                     "Housewares & Specialties", "Leisure Products", "Apparel, Accessories & Luxury Goods", "Footwear",
                     "Textiles", "Leisure Facilities", "Restaurants", "Education Services", "Specialized Consumer Services",
                     "Distributors", "Internet & Direct Marketing Retail", "Department Stores", "General Merchandise Stores",
                     "Broadline Retail", "Apparel Retail", "Computer & Electronics Retail", "Home Improvement Retail",
                     "Other Specialty Retail", "Automotive Retail", "Homefurnishing Retail"], P),
    # Consumer staples (brewers, distillers, tobacco excluded)
    "Brewers": Rule(ALCOHOL), "Distillers & Vintners": Rule(ALCOHOL), "Tobacco": Rule(TOBACCO),
    **dict.fromkeys(["Drug Retail", "Food Distributors", "Food Retail", "Hypermarkets & Super Centers",
                     "Consumer Staples Merchandise Retail", "Soft Drinks", "Soft Drinks & Non-alcoholic Beverages",
                     "Agricultural Products", "Agricultural Products & Services", "Packaged Foods & Meats",
                     "Household Products", "Personal Products", "Personal Care Products"], P),
    # Health care
    **dict.fromkeys(["Health Care Equipment", "Health Care Supplies", "Health Care Distributors", "Health Care Services",
                     "Health Care Facilities", "Managed Health Care", "Health Care Technology", "Biotechnology",
                     "Pharmaceuticals", "Life Sciences Tools & Services"], P),
    # Financials (conventional finance and insurance excluded; exchanges, data and payment processors
    # earn fees, not interest, and the index providers generally admit them)
    **dict.fromkeys(["Diversified Banks", "Regional Banks", "Thrifts & Mortgage Finance", "Other Diversified Financial Services",
                     "Diversified Financial Services", "Multi-Sector Holdings", "Specialized Finance",
                     "Commercial & Residential Mortgage Finance", "Consumer Finance", "Asset Management & Custody Banks",
                     "Investment Banking & Brokerage", "Diversified Capital Markets", "Mortgage REITs", "Insurance Brokers",
                     "Life & Health Insurance", "Multi-line Insurance", "Property & Casualty Insurance", "Reinsurance"],
                    Rule(FINANCE)),
    **dict.fromkeys(["Financial Exchanges & Data", "Transaction & Payment Processing Services"], P),
    # Information technology
    **dict.fromkeys(["IT Consulting & Other Services", "Internet Services & Infrastructure", "Application Software",
                     "Systems Software", "Communications Equipment", "Technology Hardware, Storage & Peripherals",
                     "Electronic Equipment & Instruments", "Electronic Components", "Electronic Manufacturing Services",
                     "Technology Distributors", "Semiconductor Equipment", "Semiconductor Materials & Equipment",
                     "Semiconductors", "Internet Software & Services", "Home Entertainment Software"], P),
    # Communication services (movies and entertainment under the strict standards)
    "Movies & Entertainment": Rule(ENTERTAINMENT),
    **dict.fromkeys(["Alternative Carriers", "Integrated Telecommunication Services", "Wireless Telecommunication Services",
                     "Advertising", "Broadcasting", "Cable & Satellite", "Publishing", "Interactive Home Entertainment",
                     "Interactive Media & Services"], P),
    # Utilities
    **dict.fromkeys(["Electric Utilities", "Gas Utilities", "Multi-Utilities", "Water Utilities",
                     "Independent Power Producers & Energy Traders", "Renewable Electricity"], P),
    # Real estate (hotel REITs under the strict standards, as hotels)
    "Hotel & Resort REITs": Rule(HOTELS),
    **dict.fromkeys(["Diversified REITs", "Industrial REITs", "Office REITs", "Health Care REITs", "Residential REITs",
                     "Multi-Family Residential REITs", "Single-Family Residential REITs", "Retail REITs", "Specialized REITs",
                     "Other Specialized REITs", "Self-Storage REITs", "Telecom Tower REITs", "Timber REITs", "Data Center REITs",
                     "Diversified Real Estate Activities", "Real Estate Operating Companies", "Real Estate Development",
                     "Real Estate Services"], P),
}
GICS_SECTORS: dict[str, Rule] = {
    "Energy": P, "Materials": P, "Health Care": P, "Information Technology": P, "Utilities": P,
    "Telecommunication Services": P,
    "Financials": Rule(FINANCE, inferred=True),
    "Industrials": Rule(may_include=(DEFENCE,)),
    "Consumer Discretionary": Rule(may_include=(GAMBLING, HOTELS, ENTERTAINMENT)),
    "Consumer Staples": Rule(may_include=(ALCOHOL, TOBACCO)),
    "Communication Services": Rule(may_include=(ENTERTAINMENT,)),
    "Real Estate": Rule(may_include=(HOTELS,)),
}
FINANCE_INFERRED = Rule(FINANCE, inferred=True)
# NSE (India), both schemes: the broad "Industry" of the index lists up to 2020, and the four levels
# (macro-economic sector > sector > industry > basic industry) used since. Labels from the real lists
# in emergent_pipeline_tests/fixtures/nse/ (every distinct value there is mapped here).
NSE_LABELS: dict[str, Rule] = {
    # old scheme (index lists up to 2020)
    "FINANCIAL SERVICES": FINANCE_INFERRED,
    "CONSUMER GOODS": Rule(may_include=(ALCOHOL, TOBACCO)),
    # ("MEDIA & ENTERTAINMENT", "SERVICES" and "INDUSTRIAL MANUFACTURING" are below, under their new-scheme names)
    **dict.fromkeys(["AUTOMOBILE", "CEMENT & CEMENT PRODUCTS", "CHEMICALS", "CONSTRUCTION", "ENERGY",
                     "FERTILISERS & PESTICIDES", "HEALTHCARE SERVICES", "IT", "METALS", "PAPER", "PHARMA", "TELECOM",
                     "TEXTILES"], P),
    # macro-economic sectors and sectors
    "Fast Moving Consumer Goods": Rule(may_include=(ALCOHOL, TOBACCO)),
    "Consumer Services": Rule(may_include=(HOTELS, GAMBLING, ENTERTAINMENT)),
    "Media Entertainment & Publication": Rule(may_include=(ENTERTAINMENT,)),
    "Capital Goods": Rule(may_include=(DEFENCE,)),
    "Services": Rule(may_include=(HOTELS,)),
    "Diversified": Rule(may_include=(FINANCE, ALCOHOL, TOBACCO)),
    **dict.fromkeys(["Commodities", "Healthcare", "Telecommunication", "Automobile and Auto Components", "Chemicals",
                     "Construction", "Construction Materials", "Consumer Durables", "Forest Materials", "Metals & Mining",
                     "Oil Gas & Consumable Fuels", "Power", "Realty", "Textiles"], P),
    # industries
    **dict.fromkeys(["Banks", "Finance", "Insurance"], Rule(FINANCE)),
    "Capital Markets": Rule(may_include=(FINANCE,)),  # brokers and fund managers, but also exchanges and depositories
    "Financial Technology (Fintech)": Rule(may_include=(FINANCE,)),
    "Cigarettes & Tobacco Products": Rule(TOBACCO),
    "Beverages": Rule(may_include=(ALCOHOL,)),
    "Entertainment": Rule(ENTERTAINMENT),
    "Leisure Services": Rule(may_include=(HOTELS, GAMBLING, ENTERTAINMENT)),
    "Diversified FMCG": Rule(may_include=(TOBACCO,)),  # ITC is one
    "Industrial Manufacturing": Rule(may_include=(DEFENCE,)),
    **dict.fromkeys(["Agricultural Commercial & Construction Vehicles", "Agricultural Food & other Products", "Auto Components",
                     "Automobiles", "Cement & Cement Products", "Chemicals & Petrochemicals", "Commercial Services & Supplies",
                     "Consumable Fuels", "Diversified Metals", "Electrical Equipment", "Engineering Services", "Ferrous Metals",
                     "Fertilizers & Agrochemicals", "Food Products", "Gas", "Healthcare Equipment & Supplies",
                     "Healthcare Services", "Household Products", "Industrial Products",
                     "IT - Hardware", "IT - Services", "IT - Software", "Media", "Metals & Minerals Trading",
                     "Minerals & Mining", "Non - Ferrous Metals", "Oil", "Other Construction Materials",
                     "Other Consumer Services", "Other Utilities", "Paper Forest & Jute Products", "Personal Products",
                     "Petroleum Products", "Pharmaceuticals & Biotechnology", "Printing & Publication", "Retailing",
                     "Telecom - Equipment & Accessories", "Telecom - Services", "Textiles & Apparels", "Transport Infrastructure",
                     "Transport Services", "Public Services"], P),
    # basic industries
    **dict.fromkeys(["Private Sector Bank", "Public Sector Bank", "Other Bank", "Life Insurance", "General Insurance",
                     "Other Insurance Companies", "Non Banking Financial Company (NBFC)", "Housing Finance Company",
                     "Microfinance Institutions", "Financial Institution", "Investment Company", "Asset Management Company",
                     "Stockbroking & Allied", "Insurance Distributors", "Other Financial Services",
                     "Financial Products Distributor", "Securitisation"], Rule(FINANCE)),
    **dict.fromkeys(["Holding Company", "Other Capital Market related Services"], Rule(may_include=(FINANCE,))),
    **dict.fromkeys(["Depositories Clearing Houses and Other Intermediaries", "Exchange and Data Platform", "Ratings"], P),
    "Breweries & Distilleries": Rule(ALCOHOL),
    "Hotels & Resorts": Rule(HOTELS),
    **dict.fromkeys(["Film Production Distribution & Exhibition", "Media & Entertainment", "Digital Entertainment",
                     "TV Broadcasting & Software Production"], Rule(ENTERTAINMENT)),
    "Amusement Parks/ Other Recreation": Rule(may_include=(GAMBLING, ENTERTAINMENT)),  # Delta Corp's casinos are here
    **dict.fromkeys([
        "2/3 Wheelers", "Abrasives & Bearings", "Advertising & Media Agencies", "Airline", "Airport & Airport services",
        "Aluminium", "Aluminium Copper & Zinc Products", "Animal Feed", "Auto Components & Equipments", "Auto Dealer",
        "Biotechnology", "Business Process Outsourcing (BPO)/ Knowledge Process Outsourcing (KPO)", "Cables - Electricals",
        "Carbon Black", "Castings & Forgings", "Ceramics", "Civil Construction", "Coal", "Commercial Vehicles",
        "Commodity Chemicals", "Compressors Pumps & Diesel Engines", "Computers - Software & Consulting",
        "Computers Hardware & Equipments", "Construction Vehicles", "Consulting Services", "Consumer Electronics", "Copper",
        "Cycles", "Dairy Products", "Data Processing Services", "Dealers-Commercial Vehicles Tractors Construction Vehicles",
        "Diversified Commercial Services", "Diversified Retail", "Dredging", "Dyes And Pigments", "E-Learning",
        "E-Retail/ E-Commerce", "Edible Oil", "Education", "Electrodes & Refractories", "Electronic Media", "Explosives",
        "Ferro & Silica Manganese", "Fertilizers", "Footwear", "Furniture Home Furnishing", "Garments & Apparels",
        "Gas Transmission/Marketing", "Gems Jewellery And Watches", "Glass - Consumer", "Glass - Industrial",
        "Granites & Marbles", "Healthcare Research Analytics & Technology", "Healthcare Service Provider",
        "Heavy Electrical Equipment", "Hospital", "Household Appliances", "Houseware", "Industrial Gases",
        "Industrial Minerals", "Integrated Power Utilities", "Internet & Catalogue Retail", "Iron & Steel",
        "Iron & Steel Products", "IT Enabled Services", "Jute & Jute Products", "Leather And Leather Products",
        "Leisure Products", "Logistics Solution Provider", "LPG/CNG/PNG/LNG Supplier", "Lubricants",
        "Meat Products including Poultry", "Medical Equipment & Supplies", "Offshore Support Solution Drilling",
        "Oil Equipment & Services", "Oil Exploration & Production", "Oil Storage & Transportation",
        "Other Agricultural Products", "Other Beverages", "Other Electrical Equipment", "Other Food Products",
        "Other Industrial Products", "Other Telecom Services", "Other Textile Products", "Packaged Foods", "Packaging",
        "Paints", "Paper & Paper Products", "Passenger Cars & Utility Vehicles", "Personal Care", "Pesticides & Agrochemicals",
        "Petrochemicals", "Pharmaceuticals", "Pharmacy Retail", "Plastic Products - Consumer", "Plastic Products - Industrial",
        "Plywood Boards/ Laminates", "Port & Port services", "Power - Transmission", "Power Distribution", "Power Generation",
        "Power Trading", "Print Media", "Printing Inks", "Railway Wagons", "Real Estate related services",
        "Refineries & Marketing", "Residential Commercial Projects", "Restaurants", "Road Assets - Toll Annuity Hybrid-Annuity",
        "Road Transport", "Rubber", "Sanitary Ware", "Seafood", "Ship Building & Allied Services", "Shipping",
        "Software Products", "Speciality Retail", "Specialty Chemicals", "Sponge Iron", "Stationary", "Sugar", "Tea & Coffee",
        "Telecom - Cellular & Fixed line services", "Telecom - Infrastructure", "Tour Travel Related Services", "Tractors",
        "Trading & Distributors", "Trading - Auto Components", "Trading - Chemicals", "Trading - Coal", "Trading - Gas",
        "Trading - Metals", "Trading - Minerals", "Trading - Textile Products", "Transport Related Services",
        "Tyres & Rubber Products", "Waste Management", "Water Supply & Management", "Web based media and service", "Wellness",
        "Zinc", "Pig Iron", "Precious Metals", "Forest Products", "Diversified consumer products",
        "Real Estate Investment Trusts (REITs)", "Food Storage Facilities", "Distributors", "Railways", "Multi Utilities",
    ], P),
}
# Yahoo Finance (Morningstar) sectors and industries: what yfinance's ``info`` gives for a symbol
# outside the bundled universe.
YAHOO_LABELS: dict[str, Rule] = {
    "Basic Materials": P, "Consumer Cyclical": Rule(may_include=(GAMBLING, HOTELS, ENTERTAINMENT)),
    "Consumer Defensive": Rule(may_include=(ALCOHOL, TOBACCO)), "Technology": P,
    **dict.fromkeys(["Banks - Diversified", "Banks - Regional", "Asset Management", "Financial Conglomerates", "Mortgage Finance",
                     "Insurance - Diversified", "Insurance - Life", "Insurance - Property & Casualty", "Insurance - Reinsurance",
                     "Insurance - Specialty", "REIT - Mortgage"], Rule(FINANCE)),
    **dict.fromkeys(["Credit Services", "Shell Companies"], Rule(may_include=(FINANCE,))),  # card networks and lenders alike
    "Financial Data & Stock Exchanges": P,
    **dict.fromkeys(["Beverages - Brewers", "Beverages - Wineries & Distilleries"], Rule(ALCOHOL)),
    **dict.fromkeys(["Gambling", "Resorts & Casinos"], Rule(GAMBLING)),
    **dict.fromkeys(["Lodging", "REIT - Hotel & Motel"], Rule(HOTELS)),
    "Conglomerates": Rule(may_include=(DEFENCE, FINANCE)),
    **dict.fromkeys([
        "Agricultural Inputs", "Building Materials", "Coking Coal", "Lumber & Wood Production", "Other Industrial Metals & Mining",
        "Other Precious Metals & Mining", "Paper & Paper Products", "Advertising Agencies", "Electronic Gaming & Multimedia",
        "Internet Content & Information", "Telecom Services", "Apparel Manufacturing", "Auto & Truck Dealerships",
        "Auto Manufacturers", "Auto Parts", "Footwear & Accessories", "Furnishings, Fixtures & Appliances", "Internet Retail",
        "Leisure", "Luxury Goods", "Packaging & Containers", "Personal Services", "Recreational Vehicles",
        "Residential Construction", "Specialty Retail", "Textile Manufacturing", "Travel Services", "Beverages - Non-Alcoholic",
        "Confectioners", "Discount Stores", "Education & Training Services", "Farm Products", "Food Distribution",
        "Grocery Stores", "Household & Personal Products", "Packaged Foods", "Oil & Gas Drilling", "Oil & Gas E&P",
        "Oil & Gas Equipment & Services", "Oil & Gas Integrated", "Oil & Gas Midstream", "Thermal Coal", "Uranium",
        "Diagnostics & Research", "Drug Manufacturers - General", "Drug Manufacturers - Specialty & Generic",
        "Health Information Services", "Healthcare Plans", "Medical Care Facilities", "Medical Devices", "Medical Distribution",
        "Medical Instruments & Supplies", "Pharmaceutical Retailers", "Airports & Air Services", "Building Products & Equipment",
        "Business Equipment & Supplies", "Electrical Equipment & Parts", "Engineering & Construction",
        "Farm & Heavy Construction Machinery", "Industrial Distribution", "Infrastructure Operations",
        "Integrated Freight & Logistics", "Marine Shipping", "Metal Fabrication", "Pollution & Treatment Controls",
        "Rental & Leasing Services", "Security & Protection Services", "Specialty Business Services",
        "Specialty Industrial Machinery", "Staffing & Employment Services", "Tools & Accessories", "Waste Management",
        "Real Estate - Development", "Real Estate - Diversified", "Real Estate Services", "REIT - Diversified",
        "REIT - Healthcare Facilities", "REIT - Industrial", "REIT - Office", "REIT - Residential", "REIT - Retail",
        "REIT - Specialty", "Communication Equipment", "Computer Hardware", "Electronic Components",
        "Electronics & Computer Distribution", "Information Technology Services", "Scientific & Technical Instruments",
        "Semiconductor Equipment & Materials", "Software - Application", "Software - Infrastructure", "Solar",
        "Utilities - Diversified", "Utilities - Independent Power Producers", "Utilities - Regulated Electric",
        "Utilities - Regulated Gas", "Utilities - Regulated Water", "Utilities - Renewable",
    ], P),
}


def normalise(label: object) -> str:
    """Case-, punctuation- and '&'/'and'-insensitive form of a label: "Oil, Gas & Consumable Fuels"
    and "oil gas and consumable fuels" are one label."""
    text = re.sub(r"\band\b", "&", str(label).casefold())
    return re.sub(r"[^a-z0-9&]+", " ", text).strip()


def _table(*tables: dict[str, Rule]) -> dict[str, Rule]:
    merged: dict[str, Rule] = {}
    for table in tables:
        merged |= {normalise(k): v for k, v in table.items()}
    return merged


@dataclass(frozen=True)
class ActivitySettings:
    strict: bool = False
    """Also exclude hotels/cruise lines and entertainment (AAOIFI's reading)."""
    pork_processors: tuple[str, ...] = ("HRL", "TSN", "SFD")  # no classification has pork: listed by symbol
    adult_entertainment: tuple[str, ...] = ()


def business_activity(universe: pd.DataFrame, settings: ActivitySettings = ActivitySettings(),
                      extra_labels: dict[str, Rule] | None = None) -> pd.DataFrame:
    """symbol, activity_status ('prohibited' / 'permissible' / 'unknown'), activity (the prohibited
    category or None) and activity_reason (why, '' when permissible), one row per universe row."""
    table = _table(YAHOO_LABELS, NSE_LABELS, GICS_SUB_INDUSTRIES, GICS_SECTORS, extra_labels or {})
    n = len(universe)
    columns = [c for c in ("sub_industry", "sector") if c in universe.columns]
    label = pd.Series([None] * n, index=universe.index, dtype=object)
    source = pd.Series([None] * n, index=universe.index, dtype=object)
    for column in reversed(columns):  # the most specific label present wins
        present = universe[column].notna() & universe[column].astype(str).str.strip().ne("")
        label = label.where(~present, universe[column])
        source = source.where(~present, column.replace("_", "-"))
    rules = label.map(lambda value: table.get(normalise(value)) if value is not None else None)

    def applies(rule: Rule | None) -> str:
        if rule is None or not rule.activity:
            return ""
        return rule.activity if settings.strict or rule.activity not in STRICT_ONLY else ""

    def possible(rule: Rule | None) -> str:
        if rule is None:
            return ""
        return ", ".join(a for a in rule.may_include if settings.strict or a not in STRICT_ONLY)

    text = lambda series: series.astype(object).to_numpy(dtype=object)  # noqa: E731  (numpy object arrays add element-wise)
    activity = text(rules.map(applies))
    undecided = text(rules.map(possible))
    listed = universe["symbol"].isin(settings.pork_processors).to_numpy()
    adult = universe["symbol"].isin(settings.adult_entertainment).to_numpy()
    activity = np.where(listed & (activity == ""), PORK, np.where(adult & (activity == ""), ADULT, activity)).astype(object)
    named = text(source.fillna("")) + " '" + text(label.fillna("")) + "'"
    inferred = text(rules.map(lambda r: bool(r and r.inferred))).astype(bool)
    by_symbol = np.where(listed, "listed pork processor", "listed adult-entertainment company").astype(object)
    conditions = [
        (activity != "") & inferred & ~(listed | adult),
        activity != "",
        label.isna().to_numpy(),
        rules.isna().to_numpy(),
        undecided != "",
    ]
    status = np.select(conditions, ["prohibited", "prohibited", "unknown", "unknown", "unknown"], "permissible")
    reasons = np.select(conditions, [
        "prohibited activity " + activity + ": inferred from " + named + " (sub-industry missing)",
        "prohibited activity " + activity + ": " + np.where(listed | adult, by_symbol, named),
        np.full(len(universe), "activity unknown: no industry label", dtype=object),
        "activity unknown: " + named + " is not in the activity mapping",
        "activity unknown: " + named + " includes " + undecided + "; a finer label is needed",
    ], "")
    return pd.DataFrame({
        "symbol": universe["symbol"].to_numpy(),
        "activity_status": status,
        "activity": np.where(activity != "", activity, None),
        "activity_reason": reasons,
    })
