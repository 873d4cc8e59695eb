"""Write the bundled offline dataset: synthetic WikiSQL-format tables and questions.

Deterministic (one seeded random.Random, no network): running it twice writes byte-identical
files. Tables imitate Wikipedia tables across domains (sports, geography, films, companies,
elections, music, science, ...); questions are rendered from sampled WikiSQL logical forms
(sel, agg, conds) with several phrasings per form, naming columns by their header words and
condition values verbatim, as WikiSQL's crowd-written questions do. Every condition is taken
from (or, for > and <, bounded by) one row of the table, so every gold query matches a row.

Usage: python scripts/generate_bundled.py [OUT_DIR]   (default: the package's bundled/ dir)
"""

from __future__ import annotations

import datetime
import json
import os
import random
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SEED = 20261126
INSTANCES = 3  # tables per template; instance 1 goes to eval, the others to train
EVAL_INSTANCE = 1
TRAIN_QUESTIONS_PER_TABLE = 25
EVAL_QUESTIONS_PER_TABLE = 12
ROWS = (8, 30)
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "fastdistill_tui" / "core" / "datasets" / \
    "bundled"

AGG_OPS = ("", "MAX", "MIN", "COUNT", "SUM", "AVG")
AGG_WEIGHTS = (40, 12, 12, 14, 10, 12)  # none, MAX, MIN, COUNT, SUM, AVG

FIRST = """James Maria David Anna Michael Sofia Robert Elena Thomas Laura Daniel Emma Peter
Julia Carlos Ingrid Ahmed Yuki Pierre Olga Marco Fatima Lars Chloe Ivan Priya Kenji Isabel
Samuel Nadia Hugo Clara Omar Greta Luis Aisha Tomas Mei Viktor Rosa Patrick Leila Stefan Ana
Frank Helen George Irene Paul Nina""".split()
LAST = """Smith Garcia Müller Rossi Johnson Novak Tanaka Silva Brown Kowalski Dubois Jensen
Martin Petrov Lopez Andersen Williams Costa Nakamura Fischer Moreau Lindqvist Okafor Murphy
Schmidt Ricci Hansen Kim Walker Ivanova Bauer Santos Clarke Horvat Berg Mendes Wright Larsen
Dahl Ferreira Young Keller Brennan Sato Vidal Holm Reyes Stewart Baker Nilsson""".split()
COUNTRIES = [  # country, capital, continent, official language
    ("France", "Paris", "Europe", "French"), ("Germany", "Berlin", "Europe", "German"),
    ("Italy", "Rome", "Europe", "Italian"), ("Spain", "Madrid", "Europe", "Spanish"),
    ("Portugal", "Lisbon", "Europe", "Portuguese"), ("Poland", "Warsaw", "Europe", "Polish"),
    ("Sweden", "Stockholm", "Europe", "Swedish"), ("Norway", "Oslo", "Europe", "Norwegian"),
    ("Greece", "Athens", "Europe", "Greek"), ("Austria", "Vienna", "Europe", "German"),
    ("Hungary", "Budapest", "Europe", "Hungarian"), ("Ireland", "Dublin", "Europe", "Irish"),
    ("Japan", "Tokyo", "Asia", "Japanese"), ("South Korea", "Seoul", "Asia", "Korean"),
    ("India", "New Delhi", "Asia", "Hindi"), ("Thailand", "Bangkok", "Asia", "Thai"),
    ("Vietnam", "Hanoi", "Asia", "Vietnamese"), ("Indonesia", "Jakarta", "Asia", "Indonesian"),
    ("Turkey", "Ankara", "Asia", "Turkish"), ("Egypt", "Cairo", "Africa", "Arabic"),
    ("Kenya", "Nairobi", "Africa", "Swahili"), ("Nigeria", "Abuja", "Africa", "English"),
    ("Ghana", "Accra", "Africa", "English"), ("Morocco", "Rabat", "Africa", "Arabic"),
    ("Senegal", "Dakar", "Africa", "French"), ("Brazil", "Brasília", "South America",
                                               "Portuguese"),
    ("Argentina", "Buenos Aires", "South America", "Spanish"),
    ("Chile", "Santiago", "South America", "Spanish"), ("Peru", "Lima", "South America",
                                                        "Spanish"),
    ("Colombia", "Bogotá", "South America", "Spanish"),
    ("Canada", "Ottawa", "North America", "English"),
    ("Mexico", "Mexico City", "North America", "Spanish"),
    ("Cuba", "Havana", "North America", "Spanish"),
    ("Australia", "Canberra", "Oceania", "English"),
    ("New Zealand", "Wellington", "Oceania", "English"), ("Fiji", "Suva", "Oceania", "English"),
]
CITIES = """Springfield Riverton Lakewood Fairview Georgetown Ashford Millbrook Kingsport
Brookhaven Oakridge Westfield Clearwater Bridgeport Greenville Hartwell Marston Northgate
Pinecrest Redmond Silverton Stonebridge Thornbury Waverly Yorkton Elmhurst Crestwood Dunmore
Eastbury Glenwood Highland""".split()
TEAMS = [f"{city} {animal}" for city, animal in zip(CITIES, """Bears Eagles Lions Falcons
Sharks Wolves Hawks Rams Tigers Panthers Stallions Pirates Comets Knights Raiders Chargers
Titans Bison Owls Vikings Cougars Jets Rockets Hornets Kings Giants Rangers Mariners Dolphins
Storm""".split())]
STADIUMS = [f"{city} {kind}" for city, kind in zip(CITIES, ["Stadium", "Field", "Arena",
                                                          "Park", "Dome", "Coliseum"] * 5)]
WORDS = """Silent River Golden Hour Broken Crown Last Summer Night Train Paper Moon Hidden
City Winter Garden Red Horizon Lost Island Iron Bridge Blue Valley Distant Shore Midnight
Run Crystal Lake Burning Sky Glass House Wild Heart Falling Star Open Road Quiet Storm
Northern Lights""".split()
GENRES = ["Drama", "Comedy", "Thriller", "Action", "Science fiction", "Horror", "Romance",
          "Documentary", "Animation", "Western"]
INDUSTRIES = ["Automotive", "Banking", "Retail", "Energy", "Telecommunications",
              "Pharmaceuticals", "Software", "Aerospace", "Food processing", "Insurance",
              "Steel", "Shipping"]
COMPANY_SUFFIX = ["Group", "Holdings", "Corporation", "Industries", "Systems", "Partners",
                  "Motors", "Energy", "Bank", "Logistics"]
STATES = ["Ohio", "Texas", "Georgia", "Virginia", "Oregon", "Kansas", "Maine", "Iowa",
          "Nevada", "Utah", "Alabama", "Illinois"]
PARTIES = ["Democratic", "Republican", "Independent", "Green", "Libertarian"]
RESULTS = ["Re-elected", "Retired", "Lost re-election", "Retired to run for Senate",
           "Re-elected unopposed"]
LABELS = ["Columbia", "Atlantic", "Island", "Capitol", "Motown", "Sub Pop", "Warp",
          "Rough Trade", "Def Jam", "Elektra"]
BAND_A = ["The", "Electric", "Velvet", "Neon", "Crimson", "Silver", "Echo", "Lunar", "Wild",
          "Static"]
BAND_B = ["Foxes", "Tide", "Parade", "Machines", "Orchard", "Signals", "Choir", "Drifters",
          "Satellites", "Harbour"]
CERTIFICATIONS = ["Gold", "Platinum", "2× Platinum", "Silver", "Diamond", "None"]
ELEMENTS = [  # element, symbol, atomic number, atomic mass, group, year discovered
    ("Hydrogen", "H", 1, 1.008, 1, 1766), ("Helium", "He", 2, 4.0026, 18, 1868),
    ("Lithium", "Li", 3, 6.94, 1, 1817), ("Beryllium", "Be", 4, 9.0122, 2, 1798),
    ("Boron", "B", 5, 10.81, 13, 1808), ("Carbon", "C", 6, 12.011, 14, 1694),
    ("Nitrogen", "N", 7, 14.007, 15, 1772), ("Oxygen", "O", 8, 15.999, 16, 1771),
    ("Fluorine", "F", 9, 18.998, 17, 1886), ("Neon", "Ne", 10, 20.18, 18, 1898),
    ("Sodium", "Na", 11, 22.99, 1, 1807), ("Magnesium", "Mg", 12, 24.305, 2, 1755),
    ("Aluminium", "Al", 13, 26.982, 13, 1825), ("Silicon", "Si", 14, 28.085, 14, 1824),
    ("Phosphorus", "P", 15, 30.974, 15, 1669), ("Sulfur", "S", 16, 32.06, 16, 1777),
    ("Chlorine", "Cl", 17, 35.45, 17, 1774), ("Argon", "Ar", 18, 39.948, 18, 1894),
    ("Potassium", "K", 19, 39.098, 1, 1807), ("Calcium", "Ca", 20, 40.078, 2, 1808),
    ("Titanium", "Ti", 22, 47.867, 4, 1791), ("Chromium", "Cr", 24, 51.996, 6, 1797),
    ("Manganese", "Mn", 25, 54.938, 7, 1774), ("Iron", "Fe", 26, 55.845, 8, 1200),
    ("Cobalt", "Co", 27, 58.933, 9, 1735), ("Nickel", "Ni", 28, 58.693, 10, 1751),
    ("Copper", "Cu", 29, 63.546, 11, 1000), ("Zinc", "Zn", 30, 65.38, 12, 1746),
    ("Gallium", "Ga", 31, 69.723, 13, 1875), ("Germanium", "Ge", 32, 72.63, 14, 1886),
    ("Arsenic", "As", 33, 74.922, 15, 1250), ("Selenium", "Se", 34, 78.971, 16, 1817),
    ("Bromine", "Br", 35, 79.904, 17, 1825), ("Krypton", "Kr", 36, 83.798, 18, 1898),
    ("Silver", "Ag", 47, 107.87, 11, 1000), ("Tin", "Sn", 50, 118.71, 14, 1000),
    ("Iodine", "I", 53, 126.9, 17, 1811), ("Xenon", "Xe", 54, 131.29, 18, 1898),
    ("Platinum", "Pt", 78, 195.08, 10, 1735), ("Gold", "Au", 79, 196.97, 11, 1000),
]
DISCOVERERS = ["Cavendish", "Ramsay", "Davy", "Scheele", "Lavoisier", "Berzelius", "Curie",
               "Winkler", "Moissan", "Brand", "Boisbaudran", "Arfwedson"]
MOONS = """Io Europa Ganymede Callisto Amalthea Himalia Titan Rhea Iapetus Dione Tethys
Enceladus Mimas Hyperion Phoebe Janus Miranda Ariel Umbriel Titania Oberon Triton Nereid
Proteus Larissa Phobos Deimos Charon Nix Hydra""".split()
PLANETS = ["Jupiter", "Saturn", "Uranus", "Neptune", "Mars", "Pluto"]
NICKNAMES = ["Wildcats", "Huskies", "Spartans", "Bulldogs", "Gators", "Ducks", "Badgers",
             "Wolverines", "Hurricanes", "Aggies", "Buckeyes", "Tar Heels"]
CONFERENCES = ["Big East", "Atlantic", "Mountain West", "Pacific", "Southern", "Great Lakes",
               "Sun Belt", "Ivy"]
CONSTRUCTORS = ["Ferrari", "McLaren", "Williams", "Lotus", "Brabham", "Renault", "Tyrrell",
                "Benetton", "Ligier", "March"]
TOURNAMENTS = ["Wimbledon", "US Open", "French Open", "Australian Open", "Indian Wells",
               "Miami Open", "Madrid Open", "Italian Open", "Canadian Open", "Cincinnati Open",
               "Queen's Club", "Monte Carlo Masters"]
SURFACES = ["Grass", "Clay", "Hard", "Carpet"]
BRIDGE_TYPES = ["Suspension", "Cable-stayed", "Arch", "Cantilever", "Truss", "Beam"]
PUBLISHERS = ["Penguin", "Harper", "Faber", "Vintage", "Knopf", "Macmillan", "Scribner",
              "Bloomsbury"]
BUILDERS = ["Harland and Wolff", "John Brown", "Blohm & Voss", "Newport News", "Vickers",
            "Swan Hunter", "Cammell Laird", "Fincantieri"]
FATES = ["Scrapped", "Sunk", "Museum ship", "Sold", "In service", "Wrecked"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
ROLES = ["Detective", "Doctor", "Captain", "Teacher", "Narrator", "Journalist", "Pilot",
         "Mayor", "Lawyer", "Herself", "Himself", "Guest"]
NOTES = ["Nominated—Academy Award", "Won—Golden Globe", "Cameo", "Voice role", "Lead role",
         "Uncredited", "Television film"]
POSITIONS = ["Guard", "Forward", "Center", "Point guard", "Shooting guard", "Small forward"]
RIVER_OUTFLOWS = ["Atlantic Ocean", "Black Sea", "North Sea", "Baltic Sea", "Pacific Ocean",
                  "Mediterranean Sea", "Caspian Sea", "Gulf of Mexico"]
RANGES = ["Alps", "Andes", "Rockies", "Himalayas", "Pyrenees", "Caucasus", "Atlas",
          "Carpathians", "Sierra Nevada"]

Make = Callable[[random.Random, int, dict[str, Any], dict[str, Any]], Any]


@dataclass(frozen=True)
class Col:
    key: str
    headers: tuple[str, ...]  # header variants; each table instance picks one
    type: str  # "text" | "real"
    make: Make  # (rng, row index, row so far by key, table context) -> cell
    unique: bool = False


@dataclass(frozen=True)
class Template:
    domain: str
    caption: str  # may use {year}
    cols: tuple[Col, ...]


def pick(pool: list[Any]) -> Make:
    return lambda rng, i, row, ctx: rng.choice(pool)


def integer(lo: int, hi: int, *, thousands: bool = False) -> Make:
    """An integer cell; with thousands=True a string such as "45,320" (as Wikipedia shows)."""
    def make(rng: random.Random, i: int, row: dict[str, Any], ctx: dict[str, Any]) -> Any:
        value = rng.randint(lo, hi)
        return f"{value:,}" if thousands else value
    return make


def decimal(lo: float, hi: float, places: int) -> Make:
    return lambda rng, i, row, ctx: round(rng.uniform(lo, hi), places)


def index(start: int = 1) -> Make:
    return lambda rng, i, row, ctx: start + i


def year(before: int, after: int) -> Make:
    """A year between ctx year - before and ctx year + after."""
    return lambda rng, i, row, ctx: rng.randint(ctx["year"] - before, ctx["year"] + after)


def person() -> Make:
    return lambda rng, i, row, ctx: f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def title(words: int) -> Make:
    return lambda rng, i, row, ctx: " ".join(rng.sample(WORDS, words))


def field(key: str, position: int, table: list[tuple[Any, ...]]) -> Make:
    """Cell `position` of the tuple in `table` whose first item is row[key]."""
    lookup = {entry[0]: entry for entry in table}
    return lambda rng, i, row, ctx: lookup[row[key]][position]


def season_date(rng: random.Random, i: int, row: dict[str, Any], ctx: dict[str, Any]) -> str:
    day = datetime.date(ctx["year"], 9, 1) + datetime.timedelta(days=7 * i + ctx["offset"])
    return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"


def air_date(rng: random.Random, i: int, row: dict[str, Any], ctx: dict[str, Any]) -> str:
    day = datetime.date(ctx["year"], 9, 15) + datetime.timedelta(days=7 * i)
    return f"{MONTHS[day.month - 1]} {day.day}, {day.year}"


def game_result(rng: random.Random, i: int, row: dict[str, Any], ctx: dict[str, Any]) -> str:
    a, b = rng.randint(3, 45), rng.randint(0, 42)
    return f"W {max(a, b + 1)}–{b}" if rng.random() < 0.55 else f"L {b}–{max(a, b + 1)}"


def tennis_score(rng: random.Random, i: int, row: dict[str, Any], ctx: dict[str, Any]) -> str:
    sets = [f"{6}–{rng.randint(0, 4)}" if rng.random() < 0.6 else f"7–{rng.choice([5, 6])}"
            for _ in range(rng.choice([2, 3]))]
    return ", ".join(sets)


def race_time(rng: random.Random, i: int, row: dict[str, Any], ctx: dict[str, Any]) -> str:
    if rng.random() < 0.2:
        return rng.choice(["Engine", "Gearbox", "Accident", "Spun off", "+1 Lap"])
    return f"+{rng.randint(1, 80)}.{rng.randint(100, 999)}"


def marathon_time(rng: random.Random, i: int, row: dict[str, Any], ctx: dict[str, Any]) -> str:
    return f"2:{rng.randint(3, 15):02d}:{rng.randint(0, 59):02d}"


def medal_total(rng: random.Random, i: int, row: dict[str, Any], ctx: dict[str, Any]) -> int:
    return row["gold"] + row["silver"] + row["bronze"]


def company(rng: random.Random, i: int, row: dict[str, Any], ctx: dict[str, Any]) -> str:
    return f"{rng.choice(LAST)} {rng.choice(COMPANY_SUFFIX)}"


def band(rng: random.Random, i: int, row: dict[str, Any], ctx: dict[str, Any]) -> str:
    return f"{rng.choice(BAND_A)} {rng.choice(BAND_B)}"


def district(rng: random.Random, i: int, row: dict[str, Any], ctx: dict[str, Any]) -> str:
    return f"{ctx['state']} {i + 1}"


def iata(rng: random.Random, i: int, row: dict[str, Any], ctx: dict[str, Any]) -> str:
    return "".join(rng.choice("ABCDEFGHIJKLMNOPRSTUVWXYZ") for _ in range(3))


def with_suffix(pool: list[str], suffixes: list[str]) -> Make:
    return lambda rng, i, row, ctx: f"{rng.choice(pool)} {rng.choice(suffixes)}"


TEMPLATES = (
    Template("sports", "{year} season", (
        Col("week", ("Week",), "real", index(), unique=True),
        Col("date", ("Date",), "text", season_date),
        Col("opponent", ("Opponent",), "text", pick(TEAMS), unique=True),
        Col("result", ("Result",), "text", game_result),
        Col("attendance", ("Attendance", "Crowd"), "real", integer(18000, 81000,
                                                                   thousands=True)),
        Col("venue", ("Game site", "Venue"), "text", pick(STADIUMS)),
    )),
    Template("sports", "{year} roster statistics", (
        Col("player", ("Player",), "text", person(), unique=True),
        Col("position", ("Position",), "text", pick(POSITIONS)),
        Col("team", ("Team", "Club"), "text", pick(TEAMS)),
        Col("points", ("Points",), "real", integer(40, 2400)),
        Col("rebounds", ("Rebounds",), "real", integer(10, 900)),
        Col("assists", ("Assists",), "real", integer(5, 700)),
        Col("games", ("Games played", "Games"), "real", integer(20, 82)),
    )),
    Template("sports", "{year} games medal table", (
        Col("rank", ("Rank",), "real", index(), unique=True),
        Col("nation", ("Nation", "Country"), "text", pick([c[0] for c in COUNTRIES]),
            unique=True),
        Col("gold", ("Gold",), "real", integer(0, 12)),
        Col("silver", ("Silver",), "real", integer(0, 12)),
        Col("bronze", ("Bronze",), "real", integer(0, 14)),
        Col("total", ("Total",), "real", medal_total),
    )),
    Template("geography", "Countries", (
        Col("country", ("Country",), "text", pick([c[0] for c in COUNTRIES]), unique=True),
        Col("capital", ("Capital",), "text", field("country", 1, COUNTRIES)),
        Col("continent", ("Continent", "Region"), "text", field("country", 2, COUNTRIES)),
        Col("population", ("Population (millions)",), "real", decimal(0.9, 210.0, 1)),
        Col("area", ("Area (km²)", "Area (sq km)"), "real", integer(18000, 9000000,
                                                                     thousands=True)),
        Col("language", ("Official language",), "text", field("country", 3, COUNTRIES)),
    )),
    Template("geography", "Largest cities", (
        Col("city", ("City",), "text", pick(CITIES), unique=True),
        Col("country", ("Country",), "text", pick([c[0] for c in COUNTRIES])),
        Col("population", ("Population",), "real", integer(52000, 3900000, thousands=True)),
        Col("elevation", ("Elevation (m)",), "real", integer(2, 2400)),
        Col("founded", ("Founded",), "real", year(900, -100)),
        Col("mayor", ("Mayor",), "text", person()),
    )),
    Template("geography", "Longest rivers", (
        Col("river", ("River",), "text", with_suffix(CITIES, ["River"]), unique=True),
        Col("length", ("Length (km)",), "real", integer(120, 6600, thousands=True)),
        Col("outflow", ("Outflow", "Mouth"), "text", pick(RIVER_OUTFLOWS)),
        Col("countries", ("Countries",), "real", integer(1, 10)),
        Col("drainage", ("Drainage area (km²)",), "real", integer(9000, 3200000,
                                                                  thousands=True)),
    )),
    Template("geography", "Highest peaks", (
        Col("peak", ("Peak", "Mountain"), "text", with_suffix(["Mount"], WORDS), unique=True),
        Col("range", ("Range",), "text", pick(RANGES)),
        Col("height", ("Height (m)", "Elevation (m)"), "real", integer(1800, 8800)),
        Col("prominence", ("Prominence (m)",), "real", integer(300, 4800)),
        Col("ascent", ("First ascent",), "real", year(200, -30)),
        Col("country", ("Country",), "text", pick([c[0] for c in COUNTRIES])),
    )),
    Template("films", "Films of {year}", (
        Col("title", ("Title", "Film"), "text", title(2), unique=True),
        Col("director", ("Director",), "text", person()),
        Col("year", ("Year",), "real", year(3, 3)),
        Col("genre", ("Genre",), "text", pick(GENRES)),
        Col("box_office", ("Box office ($ millions)", "Gross ($ millions)"), "real",
            decimal(0.5, 950.0, 1)),
        Col("runtime", ("Running time (min)",), "real", integer(78, 192)),
    )),
    Template("films", "Filmography", (
        Col("year", ("Year",), "real", year(15, 15)),
        Col("film", ("Film", "Title"), "text", title(2), unique=True),
        Col("role", ("Role",), "text", pick(ROLES)),
        Col("costar", ("Co-star",), "text", person()),
        Col("notes", ("Notes",), "text", pick(NOTES)),
    )),
    Template("companies", "Largest companies {year}", (
        Col("company", ("Company", "Name"), "text", company, unique=True),
        Col("hq", ("Headquarters",), "text", pick(CITIES)),
        Col("industry", ("Industry",), "text", pick(INDUSTRIES)),
        Col("revenue", ("Revenue (billion $)",), "real", decimal(1.2, 480.0, 1)),
        Col("employees", ("Employees",), "real", integer(900, 420000, thousands=True)),
        Col("founded", ("Founded",), "real", year(150, -5)),
    )),
    Template("elections", "{year} House elections", (
        Col("district", ("District",), "text", district, unique=True),
        Col("incumbent", ("Incumbent",), "text", person()),
        Col("party", ("Party",), "text", pick(PARTIES)),
        Col("elected", ("First elected",), "real", year(40, -2)),
        Col("result", ("Result",), "text", pick(RESULTS)),
        Col("votes", ("Votes (%)", "Vote share (%)"), "real", decimal(38.0, 92.0, 1)),
    )),
    Template("elections", "{year} election results by county", (
        Col("county", ("County",), "text", with_suffix(CITIES, ["County"]), unique=True),
        Col("winner", ("Winner",), "text", person()),
        Col("party", ("Party",), "text", pick(PARTIES)),
        Col("votes", ("Votes",), "real", integer(1200, 480000, thousands=True)),
        Col("turnout", ("Turnout (%)",), "real", decimal(35.0, 88.0, 1)),
        Col("margin", ("Margin (%)",), "real", decimal(0.1, 45.0, 1)),
    )),
    Template("music", "Discography", (
        Col("album", ("Album", "Title"), "text", title(2), unique=True),
        Col("artist", ("Artist",), "text", band),
        Col("released", ("Release year", "Year"), "real", year(10, 10)),
        Col("label", ("Label",), "text", pick(LABELS)),
        Col("peak", ("Peak position", "Chart peak"), "real", integer(1, 100)),
        Col("sales", ("Sales (millions)",), "real", decimal(0.1, 25.0, 1)),
    )),
    Template("music", "Singles", (
        Col("single", ("Single", "Song"), "text", title(2), unique=True),
        Col("artist", ("Artist",), "text", band),
        Col("year", ("Year",), "real", year(5, 5)),
        Col("weeks", ("Weeks on chart",), "real", integer(1, 60)),
        Col("peak", ("Peak position",), "real", integer(1, 100)),
        Col("certification", ("Certification",), "text", pick(CERTIFICATIONS)),
    )),
    Template("science", "Chemical elements", (
        Col("element", ("Element", "Name"), "text", pick([e[0] for e in ELEMENTS]),
            unique=True),
        Col("symbol", ("Symbol",), "text", field("element", 1, ELEMENTS)),
        Col("number", ("Atomic number",), "real", field("element", 2, ELEMENTS)),
        Col("mass", ("Atomic mass", "Standard atomic weight"), "real",
            field("element", 3, ELEMENTS)),
        Col("group", ("Group",), "real", field("element", 4, ELEMENTS)),
        Col("discovered", ("Year discovered", "Discovery year"), "real",
            field("element", 5, ELEMENTS)),
    )),
    Template("science", "Natural satellites", (
        Col("moon", ("Moon", "Name"), "text", pick(MOONS), unique=True),
        Col("planet", ("Planet",), "text", pick(PLANETS)),
        Col("diameter", ("Diameter (km)", "Mean diameter (km)"), "real", decimal(8.0, 5300.0,
                                                                                 1)),
        Col("period", ("Orbital period (days)",), "real", decimal(0.3, 1900.0, 2)),
        Col("discoverer", ("Discoverer", "Discovered by"), "text", person()),
        Col("discovered", ("Year discovered",), "real", year(300, 20)),
    )),
    Template("education", "Member institutions", (
        Col("institution", ("Institution", "School"), "text",
            with_suffix(CITIES, ["University", "College", "State University"]), unique=True),
        Col("location", ("Location",), "text", pick(CITIES)),
        Col("founded", ("Founded",), "real", year(200, -20)),
        Col("enrollment", ("Enrollment",), "real", integer(1500, 62000, thousands=True)),
        Col("nickname", ("Nickname", "Team name"), "text", pick(NICKNAMES)),
        Col("conference", ("Conference",), "text", pick(CONFERENCES)),
    )),
    Template("television", "Season episodes", (
        Col("number", ("No. in series", "Episode"), "real", index(1), unique=True),
        Col("title", ("Title",), "text", title(2), unique=True),
        Col("director", ("Directed by",), "text", person()),
        Col("writer", ("Written by",), "text", person()),
        Col("air_date", ("Original air date",), "text", air_date),
        Col("viewers", ("U.S. viewers (millions)", "Viewers (millions)"), "real",
            decimal(2.0, 24.0, 2)),
    )),
    Template("motorsport", "{year} Grand Prix classification", (
        Col("driver", ("Driver",), "text", person(), unique=True),
        Col("constructor", ("Constructor", "Team"), "text", pick(CONSTRUCTORS)),
        Col("laps", ("Laps",), "real", integer(12, 78)),
        Col("grid", ("Grid",), "real", integer(1, 26)),
        Col("points", ("Points",), "real", integer(0, 25)),
        Col("time", ("Time/Retired",), "text", race_time),
    )),
    Template("sports", "Career finals", (
        Col("outcome", ("Outcome",), "text", pick(["Winner", "Runner-up"])),
        Col("year", ("Year",), "real", year(8, 8)),
        Col("tournament", ("Tournament", "Championship"), "text", pick(TOURNAMENTS)),
        Col("surface", ("Surface",), "text", pick(SURFACES)),
        Col("opponent", ("Opponent", "Opponent in the final"), "text", person(), unique=True),
        Col("score", ("Score", "Score in the final"), "text", tennis_score),
    )),
    Template("transport", "Busiest airports {year}", (
        Col("airport", ("Airport",), "text", with_suffix(CITIES, ["International Airport",
                                                                  "Regional Airport"]),
            unique=True),
        Col("city", ("City", "Serves"), "text", pick(CITIES)),
        Col("code", ("IATA code", "Code"), "text", iata, unique=True),
        Col("passengers", ("Passengers", "Total passengers"), "real",
            integer(400000, 88000000, thousands=True)),
        Col("runways", ("Runways",), "real", integer(1, 6)),
        Col("change", ("Change (%)",), "real", decimal(-12.0, 25.0, 1)),
    )),
    Template("engineering", "Longest bridges", (
        Col("bridge", ("Bridge", "Name"), "text", with_suffix(CITIES, ["Bridge", "Viaduct"]),
            unique=True),
        Col("location", ("Location",), "text", pick(CITIES)),
        Col("span", ("Main span (m)", "Longest span (m)"), "real", integer(180, 1990)),
        Col("opened", ("Year opened", "Opened"), "real", year(120, -1)),
        Col("type", ("Type",), "text", pick(BRIDGE_TYPES)),
    )),
    Template("literature", "Bestselling novels", (
        Col("title", ("Title", "Book"), "text", title(3), unique=True),
        Col("author", ("Author",), "text", person()),
        Col("publisher", ("Publisher",), "text", pick(PUBLISHERS)),
        Col("year", ("Year", "First published"), "real", year(60, 5)),
        Col("pages", ("Pages",), "real", integer(120, 1100)),
        Col("copies", ("Copies sold (millions)", "Sales (millions)"), "real",
            decimal(0.5, 60.0, 1)),
    )),
    Template("athletics", "{year} marathon results", (
        Col("rank", ("Rank", "Position"), "real", index(), unique=True),
        Col("athlete", ("Athlete", "Name"), "text", person(), unique=True),
        Col("nationality", ("Nationality", "Country"), "text",
            pick([c[0] for c in COUNTRIES])),
        Col("time", ("Time",), "text", marathon_time),
        Col("age", ("Age",), "real", integer(19, 41)),
        Col("bib", ("Bib",), "real", integer(1, 400), unique=True),
    )),
    Template("maritime", "Ships of the line", (
        Col("ship", ("Ship", "Name"), "text", with_suffix(["SS", "RMS", "HMS", "MV"], WORDS),
            unique=True),
        Col("builder", ("Builder", "Shipyard"), "text", pick(BUILDERS)),
        Col("launched", ("Launched",), "real", year(80, 0)),
        Col("tonnage", ("Tonnage (GRT)", "Gross tonnage"), "real", integer(1200, 52000,
                                                                         thousands=True)),
        Col("fate", ("Fate", "Status"), "text", pick(FATES)),
    )),
    Template("climate", "Climate data", (
        Col("month", ("Month",), "text", lambda rng, i, row, ctx: MONTHS[i % 12], unique=True),
        Col("high", ("Record high (°C)",), "real", decimal(8.0, 44.0, 1)),
        Col("avg_high", ("Average high (°C)",), "real", decimal(-2.0, 33.0, 1)),
        Col("avg_low", ("Average low (°C)",), "real", decimal(-15.0, 21.0, 1)),
        Col("rain", ("Precipitation (mm)", "Rainfall (mm)"), "real", decimal(4.0, 240.0, 1)),
        Col("sunshine", ("Sunshine hours",), "real", integer(40, 360)),
    )),
)


@dataclass
class TableData:
    id: str
    caption: str
    header: list[str]
    types: list[str]
    rows: list[list[Any]]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "caption": self.caption, "header": self.header,
                "types": self.types, "rows": self.rows}


def build_table(rng: random.Random, template: Template, table_id: str) -> TableData:
    ctx = {"year": rng.randint(1978, 2018), "offset": rng.randint(0, 6),
           "state": rng.choice(STATES)}
    n_rows = rng.randint(*ROWS)
    rows: list[list[Any]] = []
    seen: dict[str, set[Any]] = {c.key: set() for c in template.cols}
    while len(rows) < n_rows:
        row = build_row(rng, template, len(rows), ctx, seen)
        if row is None:
            break  # a unique column's pool is exhausted: the table ends here
        rows.append(row)
    return TableData(id=table_id, caption=template.caption.format(year=ctx["year"]),
                     header=[rng.choice(c.headers) for c in template.cols],
                     types=[c.type for c in template.cols], rows=rows)


def build_row(rng: random.Random, template: Template, i: int, ctx: dict[str, Any],
              seen: dict[str, set[Any]]) -> list[Any] | None:
    row: dict[str, Any] = {}
    for col in template.cols:
        value = col.make(rng, i, row, ctx)
        for _ in range(100):
            if not col.unique or value not in seen[col.key]:
                break
            value = col.make(rng, i, row, ctx)
        else:
            return None
        row[col.key] = value
    for col in template.cols:
        seen[col.key].add(row[col.key])
    return [row[c.key] for c in template.cols]


# --- questions ---------------------------------------------------------------------------

# Each phrasing: (text with {sel} and {conds}, clause style). "is" clauses read "x is v",
# "of" clauses read "a x of v" ({a} is the article that fits the column phrase).
PHRASINGS: dict[str, list[tuple[str, str]]] = {
    "": [("What is the {sel} when {conds}?", "is"), ("What was the {sel} when {conds}?", "is"),
         ("Name the {sel} for {conds}.", "of"), ("Tell me the {sel} with {conds}.", "of"),
         ("Which {sel} has {conds}?", "of"), ("What {sel} had {conds}?", "of"),
         ("List the {sel} where {conds}.", "is")],
    "COUNT": [("How many {sel} have {conds}?", "of"),
              ("How many {sel} are there when {conds}?", "is"),
              ("What is the number of {sel} when {conds}?", "is"),
              ("Count the number of {sel} with {conds}.", "of"),
              ("What is the total number of {sel} when {conds}?", "is")],
    "SUM": [("What is the total {sel} when {conds}?", "is"),
            ("What is the sum of {sel} when {conds}?", "is"),
            ("Tell me the total {sel} for {conds}.", "of"),
            ("What is the combined {sel} with {conds}?", "of")],
    "AVG": [("What is the average {sel} when {conds}?", "is"),
            ("What is the mean {sel} for {conds}?", "of"),
            ("Tell me the average {sel} with {conds}.", "of")],
    "MAX": [("What is the highest {sel} when {conds}?", "is"),
            ("What is the largest {sel} with {conds}?", "of"),
            ("Name the most {sel} for {conds}.", "of"),
            ("What is the maximum {sel} when {conds}?", "is"),
            ("Which is the top {sel} that has {conds}?", "of")],
    "MIN": [("What is the lowest {sel} when {conds}?", "is"),
            ("What is the smallest {sel} with {conds}?", "of"),
            ("Name the least {sel} for {conds}.", "of"),
            ("What is the minimum {sel} when {conds}?", "is"),
            ("What is the fewest {sel} that has {conds}?", "of")],
}
CLAUSES: dict[tuple[str, int], list[str]] = {
    ("is", 0): ["{col} is {val}", "the {col} is {val}", "{col} was {val}"],
    ("of", 0): ["{a} {col} of {val}", "{col} of {val}", "the {col} {val}"],
    ("is", 1): ["{col} is greater than {val}", "{col} is more than {val}",
                "the {col} is over {val}", "{col} is above {val}", "{col} is larger than {val}"],
    ("of", 1): ["{a} {col} greater than {val}", "{col} more than {val}",
                "{a} {col} larger than {val}", "{col} over {val}", "{col} above {val}"],
    ("is", 2): ["{col} is less than {val}", "{col} is smaller than {val}",
                "the {col} is under {val}", "{col} is below {val}", "{col} is fewer than {val}"],
    ("of", 2): ["{a} {col} less than {val}", "{col} smaller than {val}",
                "{a} {col} fewer than {val}", "{col} under {val}", "{col} below {val}"],
}
TIME_CLAUSES = {1: ["{col} after {val}", "{col} later than {val}"],
                2: ["{col} before {val}", "{col} earlier than {val}"]}
TIME_WORDS = {"year", "founded", "opened", "launched", "elected", "discovered", "ascent",
              "published"}


def number(cell: Any) -> float:
    return float(str(cell).replace(",", ""))


def cell_text(cell: Any) -> str:
    return str(cell)


def column_phrase(rng: random.Random, header: str) -> str:
    """How a question names a column: its header words, case and units varied."""
    phrase = header
    if "(" in header and rng.random() < 0.5:
        phrase = re.sub(r"\s*\(.*?\)", "", header)
    return phrase if rng.random() < 0.3 else phrase.lower()


def make_question(rng: random.Random, table: TableData) -> tuple[str, dict[str, Any]]:
    real_cols = [i for i, t in enumerate(table.types) if t == "real"]
    agg = rng.choices(range(len(AGG_OPS)), weights=AGG_WEIGHTS)[0]
    if AGG_OPS[agg] in ("MAX", "MIN", "SUM", "AVG"):
        sel = rng.choice(real_cols)
    else:
        sel = rng.randrange(len(table.header))
    row = rng.choice(table.rows)
    others = [i for i in range(len(table.header)) if i != sel]
    n_conds = min(len(others), rng.choices((1, 2, 3), weights=(60, 30, 10))[0])
    conds: list[list[Any]] = []
    for col in rng.sample(others, n_conds):
        op = 0
        value = row[col]
        if table.types[col] == "real":
            op = rng.choices((0, 1, 2), weights=(50, 25, 25))[0]
            if op:
                mine = number(value)
                # a threshold shown in the table that this row passes, so a row matches
                bounds = sorted({number(r[col]) for r in table.rows
                                 if (number(r[col]) < mine if op == 1 else number(r[col]) > mine)})
                if bounds:
                    target = rng.choice(bounds)
                    value = next(r[col] for r in table.rows if number(r[col]) == target)
                else:
                    op = 0
        conds.append([col, op, value])
    template, style = rng.choice(PHRASINGS[AGG_OPS[agg]])
    clauses = []
    for col, op, value in conds:
        header = table.header[col]
        options = CLAUSES[(style, op)]
        if op and set(re.findall(r"\w+", header.lower())) & TIME_WORDS:
            options = options + TIME_CLAUSES[op]
        clause = rng.choice(options)
        phrase = column_phrase(rng, header)
        article = "an" if phrase[0].lower() in "aeiou" else "a"
        clauses.append(clause.format(col=phrase, val=cell_text(value), a=article))
    if len(clauses) == 1:
        joined = clauses[0]
    else:
        joined = ", ".join(clauses[:-1]) + rng.choice([" and ", ", and "]) + clauses[-1]
    question = template.format(sel=column_phrase(rng, table.header[sel]), conds=joined)
    question = question[0].upper() + question[1:]
    return question, {"sel": sel, "agg": agg, "conds": conds}


def questions_for(rng: random.Random, tables: list[TableData],
                  per_table: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for table in tables:
        seen: set[str] = set()
        while len(seen) < per_table:
            question, sql = make_question(rng, table)
            if question in seen:
                continue
            seen.add(question)
            out.append({"table_id": table.id, "question": question, "sql": sql})
    rng.shuffle(out)
    return out


README = """# Bundled offline dataset (synthetic)

WikiSQL-format Text2SQL data generated by `scripts/generate_bundled.py` (seed {seed}); rerunning
the script reproduces these files byte for byte. It is SYNTHETIC: the tables imitate Wikipedia
tables (sports, geography, films, companies, elections, music, science, ...) with invented rows,
and the questions are rendered from sampled logical forms with template phrasings. The
chemical elements' names, symbols, numbers and masses are real; all other rows are made up.

- `train.jsonl` / `eval.jsonl`: {{table_id, question, sql: {{sel, agg, conds}}}} as in WikiSQL
- `train.tables.jsonl` / `eval.tables.jsonl`: {{id, caption, header, types, rows}}
- {train_tables} train and {eval_tables} eval tables (disjoint)
- {train_questions} train and {eval_questions} eval questions

Use it to try the pipeline offline; measure models on real data (WikiSQL, Spider).
"""


def generate() -> dict[str, str]:
    """File name -> content of the bundled set."""
    rng = random.Random(SEED)
    train_tables: list[TableData] = []
    eval_tables: list[TableData] = []
    used_ids: set[str] = set()
    for number_, template in enumerate(TEMPLATES, start=1):
        for instance in range(INSTANCES):
            table_id = f"{number_}-{rng.randrange(10**6, 10**7)}-{instance + 1}"
            while table_id in used_ids:
                table_id = f"{number_}-{rng.randrange(10**6, 10**7)}-{instance + 1}"
            used_ids.add(table_id)
            table = build_table(rng, template, table_id)
            (eval_tables if instance == EVAL_INSTANCE else train_tables).append(table)
    files = {}
    for split, tables, per_table in (("train", train_tables, TRAIN_QUESTIONS_PER_TABLE),
                                     ("eval", eval_tables, EVAL_QUESTIONS_PER_TABLE)):
        rows = questions_for(rng, tables, per_table)
        files[f"{split}.tables.jsonl"] = "".join(
            json.dumps(t.to_json(), ensure_ascii=False) + "\n" for t in tables)
        files[f"{split}.jsonl"] = "".join(json.dumps(r, ensure_ascii=False) + "\n"
                                          for r in rows)
    files["README.md"] = README.format(
        seed=SEED, train_tables=len(train_tables), eval_tables=len(eval_tables),
        train_questions=len(train_tables) * TRAIN_QUESTIONS_PER_TABLE,
        eval_questions=len(eval_tables) * EVAL_QUESTIONS_PER_TABLE)
    return files


def write(out_dir: Path) -> list[Path]:
    """Write every file via a temp file + os.replace; return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in generate().items():
        path = out_dir / name
        tmp = path.with_name(name + ".tmp")
        tmp.write_bytes(content.encode("utf-8"))
        os.replace(tmp, path)
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUT
    for written_path in write(target):
        print(f"{written_path}  {written_path.stat().st_size:,} bytes")
