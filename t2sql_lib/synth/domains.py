"""The generated databases: one ``Domain`` per database, its tables, columns and row generators.

Every name, word list and value range here is invented for this course. A column carries a *role*
that tells the question patterns what it can be used for:

- ``pk`` / ``fk``: integer keys (never shown in questions),
- ``label``: a unique human-readable name of the row ("title", "name"),
- ``category``: a text column with few distinct values (GROUP BY, ``=``, ``IN``),
- ``measure``: a number that can be summed and averaged (price, quantity),
- ``ordinal``: a number that can be compared but not summed (year, rating, floor),
- ``date``: an ISO ``YYYY-MM-DD`` date.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

Generator = Callable[[random.Random], Any]

ROLES = ("pk", "fk", "label", "category", "measure", "ordinal", "date")
TYPES = ("text", "integer", "real", "date")


@dataclass(frozen=True)
class ColumnSpec:
    """A column: name, SQL type, role (see the module docstring), how to generate it, a readable name."""

    name: str
    type: str
    role: str
    gen: Generator | None = None
    ref: str | None = None  # the parent table of a foreign key
    display: str | None = None
    unique: bool = False  # labels are always unique; measures can ask for it so ORDER BY has no ties

    @property
    def words(self) -> str:
        """How a question names the column: ``unit_price`` -> ``unit price``."""
        return self.display or self.name.replace("_", " ")


@dataclass(frozen=True)
class TableSpec:
    """A table: its name, the nouns a question uses for its rows, its columns and its row count."""

    name: str
    singular: str
    plural: str
    columns: tuple[ColumnSpec, ...]
    n_rows: int

    @property
    def pk(self) -> ColumnSpec:
        """The integer primary-key column (the first column)."""
        return self.columns[0]

    @property
    def label(self) -> ColumnSpec | None:
        """The unique readable-name column, or None (link tables have none)."""
        return next((c for c in self.columns if c.role == "label"), None)

    def by_role(self, *roles: str) -> list[ColumnSpec]:
        """Columns whose role is one of ``roles``, in table order."""
        return [c for c in self.columns if c.role in roles]


@dataclass(frozen=True)
class Domain:
    """One generated database: its id, the split it belongs to and its tables (parents first)."""

    db_id: str
    split: str
    topic: str
    tables: tuple[TableSpec, ...]

    def table(self, name: str) -> TableSpec:
        """The table called ``name``."""
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(f"domain {self.db_id!r} has no table {name!r}")


# ---------------------------------------------------------------- column constructors
def pk(name: str) -> ColumnSpec:
    """An integer primary key numbered 1..n."""
    return ColumnSpec(name, "integer", "pk")


def fk(name: str, ref: str, display: str | None = None) -> ColumnSpec:
    """An integer foreign key to ``ref``'s primary key."""
    return ColumnSpec(name, "integer", "fk", ref=ref, display=display)


def label(name: str, gen: Generator, display: str | None = None) -> ColumnSpec:
    """A unique text name of the row."""
    return ColumnSpec(name, "text", "label", gen, display=display, unique=True)


def category(name: str, values: Sequence[str], display: str | None = None,
             weights: Sequence[float] | None = None) -> ColumnSpec:
    """A text column drawn from a short list (optionally weighted, so group sizes differ)."""
    values = tuple(values)
    weights = tuple(weights) if weights else None
    return ColumnSpec(name, "text", "category",
                      lambda rng: rng.choices(values, weights)[0] if weights else rng.choice(values),
                      display=display)


def integer(name: str, lo: int, hi: int, role: str = "measure", display: str | None = None,
            unique: bool = False) -> ColumnSpec:
    """An integer drawn uniformly from ``lo..hi``."""
    return ColumnSpec(name, "integer", role, lambda rng: rng.randint(lo, hi), display=display, unique=unique)


def real(name: str, lo: float, hi: float, digits: int = 2, role: str = "measure",
         display: str | None = None, unique: bool = False) -> ColumnSpec:
    """A real drawn from ``lo..hi``, rounded to ``digits`` decimals (values read well in questions)."""
    return ColumnSpec(name, "real", role, lambda rng: round(rng.uniform(lo, hi), digits),
                      display=display, unique=unique)


def date(name: str, start: str, end: str, display: str | None = None) -> ColumnSpec:
    """An ISO date drawn uniformly between ``start`` and ``end`` (inclusive)."""
    first = dt.date.fromisoformat(start).toordinal()
    last = dt.date.fromisoformat(end).toordinal()
    return ColumnSpec(name, "date", "date",
                      lambda rng: dt.date.fromordinal(rng.randint(first, last)).isoformat(), display=display)


# ---------------------------------------------------------------- word lists (invented)
FIRST_NAMES = (
    "Ada", "Bruno", "Carla", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Keiko",
    "Luca", "Maya", "Nikolai", "Olga", "Pablo", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera",
    "Wendell", "Ximena", "Yusuf", "Zara", "Anton", "Beatriz", "Cyrus", "Dalia", "Emil", "Freya",
    "Gideon", "Hana", "Ivo", "Jana", "Kofi", "Lena", "Mateo", "Nadia", "Otto", "Priya", "Rafael",
    "Selma", "Tomas", "Uma", "Viktor", "Wren",
)
LAST_NAMES = (
    "Abbott", "Barros", "Castell", "Dunmore", "Ekwueme", "Falk", "Gallo", "Hartley", "Ibarra",
    "Jovanovic", "Kowal", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov", "Quist", "Rinaldi",
    "Sandoval", "Tanaka", "Ueda", "Varga", "Whitlock", "Xu", "Yilmaz", "Zeller", "Brandt", "Corbin",
    "Delacroix", "Ferrante", "Greaves", "Holm", "Ivers", "Jensen", "Keller", "Lomax", "Marsh",
    "Novak", "Oduya", "Pryce", "Ruiz", "Strand", "Thorne", "Vance",
)
TOWNS = (
    "Alderport", "Brightwater", "Cedar Falls", "Dunmore Bay", "Elmstead", "Fairhaven", "Glenrock",
    "Harrow Point", "Ironvale", "Juniper Hill", "Kestrel Ford", "Larkspur", "Millbrook", "Northwick",
    "Oakmere", "Pinecrest", "Redcliff", "Stonebridge", "Thornfield", "Westmarch",
)
COUNTRIES = ("Portugal", "Kenya", "Japan", "Canada", "Chile", "Norway", "India", "Ghana", "Poland",
             "Vietnam", "Mexico", "Egypt")
ADJECTIVES = (
    "Silent", "Golden", "Hidden", "Broken", "Crimson", "Distant", "Frozen", "Gentle", "Hollow",
    "Iron", "Lucky", "Midnight", "Northern", "Quiet", "Restless", "Scarlet", "Silver", "Wandering",
    "Velvet", "Wild", "Amber", "Bitter", "Bright", "Copper",
)
NOUNS = (
    "Harbor", "Garden", "Lantern", "River", "Mountain", "Orchard", "Compass", "Meadow", "Tower",
    "Voyage", "Echo", "Forest", "Island", "Mirror", "Bridge", "Comet", "Feather", "Kingdom",
    "Library", "Shadow", "Signal", "Summer", "Winter", "Tide",
)


def person(rng: random.Random) -> str:
    """A first and last name."""
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def compose(*parts: Sequence[str], sep: str = " ") -> Generator:
    """A generator joining one random word from each list (``compose(ADJECTIVES, NOUNS)``)."""
    return lambda rng: sep.join(rng.choice(p) for p in parts)


def code(prefix: str, lo: int, hi: int) -> Generator:
    """A generator of codes like ``FL-204``."""
    return lambda rng: f"{prefix}-{rng.randint(lo, hi)}"


def place(kind: Sequence[str]) -> Generator:
    """A generator of place names like ``Millbrook Arena``."""
    return lambda rng: f"{rng.choice(TOWNS)} {rng.choice(kind)}"


def title_words(rng: random.Random) -> str:
    """A title such as ``The Silent Harbor`` or ``Copper Meadow``."""
    words = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)}"
    return f"The {words}" if rng.random() < 0.4 else words


# ---------------------------------------------------------------- the databases
def _table(name: str, singular: str, plural: str, n_rows: int, *columns: ColumnSpec) -> TableSpec:
    return TableSpec(name, singular, plural, tuple(columns), n_rows)


GENRES = ("mystery", "fantasy", "history", "poetry", "science", "romance", "travel")
SPECIALTIES = ("cardiology", "dermatology", "pediatrics", "neurology", "orthopedics", "oncology")
CUISINES = ("thai", "italian", "mexican", "ethiopian", "korean", "lebanese", "peruvian")
POSITIONS = ("goalkeeper", "defender", "midfielder", "forward")

_DOMAIN_LIST: list[Domain] = [
    Domain("bookshop", "train", "an independent bookshop", (
        _table("authors", "author", "authors", 40,
               pk("author_id"), label("name", person), category("country", COUNTRIES),
               integer("birth_year", 1930, 1995, role="ordinal", display="birth year")),
        _table("books", "book", "books", 120,
               pk("book_id"), label("title", title_words), fk("author_id", "authors"),
               category("genre", GENRES, weights=(5, 4, 3, 1, 2, 3, 1)),
               real("price", 4.5, 59.0, unique=True), integer("pages", 80, 900, display="number of pages"),
               date("published_on", "2005-01-01", "2024-06-30", display="publication date")),
        _table("sales", "sale", "sales", 300,
               pk("sale_id"), fk("book_id", "books"),
               category("store", ("Harbor Street", "Old Town", "Airport", "Online")),
               integer("quantity", 1, 12), date("sale_date", "2022-01-01", "2024-12-31", display="sale date")),
    )),
    Domain("clinic", "train", "a family health clinic", (
        _table("doctors", "doctor", "doctors", 30,
               pk("doctor_id"), label("name", person), category("specialty", SPECIALTIES),
               integer("years_experience", 1, 38, role="ordinal", display="years of experience")),
        _table("patients", "patient", "patients", 150,
               pk("patient_id"), label("name", person), category("city", TOWNS[:8]),
               date("birth_date", "1940-01-01", "2020-12-31", display="birth date"),
               real("weight_kg", 12.0, 130.0, 1, display="weight in kg")),
        _table("appointments", "appointment", "appointments", 320,
               pk("appointment_id"), fk("doctor_id", "doctors"), fk("patient_id", "patients"),
               date("appointment_date", "2023-01-01", "2024-12-31", display="appointment date"),
               real("fee", 20.0, 350.0, unique=True),
               category("status", ("completed", "cancelled", "no-show"), weights=(8, 2, 1))),
    )),
    Domain("airline", "train", "a regional airline", (
        _table("aircraft", "aircraft", "aircraft", 25,
               pk("aircraft_id"), label("tail_number", code("TN", 100, 999), display="tail number"),
               category("model", ("Skylark 200", "Heron 90", "Albatross X", "Petrel 5")),
               integer("seats", 40, 220, display="number of seats"), integer("built_year", 1995, 2023, role="ordinal",
                                                  display="year built")),
        _table("pilots", "pilot", "pilots", 40,
               pk("pilot_id"), label("name", person), category("rank", ("captain", "first officer")),
               integer("flight_hours", 800, 21000, display="flight hours", unique=True),
               date("hired_on", "2001-01-01", "2024-01-31", display="hire date")),
        _table("flights", "flight", "flights", 260,
               pk("flight_id"), label("flight_code", code("SK", 1000, 9999), display="flight code"),
               fk("aircraft_id", "aircraft"), fk("pilot_id", "pilots"),
               category("destination", TOWNS[6:14]), integer("distance_km", 150, 2900, display="distance in km"),
               real("ticket_price", 39.0, 620.0, unique=True, display="ticket price"),
               date("departure_date", "2024-01-01", "2024-12-31", display="departure date")),
    )),
    Domain("university", "train", "a small university", (
        _table("departments", "department", "departments", 8,
               pk("department_id"),
               label("name", compose(("Physics", "Linguistics", "Biology", "Economics", "Music",
                                      "History", "Chemistry", "Philosophy", "Geology", "Design"))),
               category("building", ("North Hall", "Lakeside", "Old Library"), display="building"),
               real("budget", 150000.0, 2400000.0, 0)),
        _table("courses", "course", "courses", 36,
               pk("course_id"),
               label("title", compose(("Introduction to", "Advanced", "Topics in", "Seminar on"),
                                      ("Optics", "Syntax", "Genetics", "Markets", "Harmony", "Empires",
                                       "Polymers", "Ethics", "Minerals", "Typography", "Ecology",
                                       "Rhetoric"))),
               fk("department_id", "departments"), integer("credits", 2, 8, display="number of credits"),
               category("level", ("introductory", "intermediate", "advanced"), weights=(3, 2, 1))),
        _table("students", "student", "students", 140,
               pk("student_id"), label("name", person),
               integer("enrollment_year", 2018, 2024, role="ordinal", display="enrollment year"),
               category("hometown", TOWNS[:10])),
        _table("enrollments", "enrollment", "enrollments", 360,
               pk("enrollment_id"), fk("student_id", "students"), fk("course_id", "courses"),
               real("grade", 1.0, 10.0, 1), date("enrolled_on", "2022-08-15", "2024-09-30",
                                                 display="enrollment date")),
    )),
    Domain("restaurants", "train", "a city food guide", (
        _table("restaurants", "restaurant", "restaurants", 35,
               pk("restaurant_id"), label("name", place(("Kitchen", "Bistro", "Canteen", "Grill", "Table",
                                                          "Noodle Bar"))),
               category("cuisine", CUISINES), category("district", ("harbour", "old town", "uptown",
                                                                   "riverside")),
               real("rating", 2.0, 5.0, 1, role="ordinal"),
               date("opened_on", "2008-01-01", "2024-03-31", display="opening date")),
        _table("dishes", "dish", "dishes", 200,
               pk("dish_id"), fk("restaurant_id", "restaurants"),
               label("name", compose(("smoked", "crispy", "spicy", "slow-cooked", "grilled", "sweet",
                                      "braised", "charred"),
                                     ("lentil", "squid", "pumpkin", "lamb", "tofu", "mushroom", "chicken",
                                      "beet", "salmon"),
                                     ("stew", "tacos", "curry", "salad", "skewers", "dumplings", "tart",
                                      "soup"))),
               category("course", ("starter", "main", "dessert"), weights=(2, 3, 1)),
               real("price", 3.5, 42.0, unique=True), integer("calories", 120, 1400, display="calorie count")),
    )),
    Domain("museum", "train", "an art museum's collection", (
        _table("artists", "artist", "artists", 36,
               pk("artist_id"), label("name", person), category("nationality", COUNTRIES),
               integer("born", 1820, 1990, role="ordinal", display="birth year")),
        _table("artworks", "artwork", "artworks", 150,
               pk("artwork_id"), label("title", title_words), fk("artist_id", "artists"),
               category("medium", ("oil", "watercolour", "bronze", "photograph", "ink"), weights=(4, 2, 1, 2, 1)),
               integer("year_created", 1850, 2022, role="ordinal", display="year created"),
               real("insured_value", 1500.0, 950000.0, 0, unique=True, display="insured value")),
        _table("exhibitions", "exhibition", "exhibitions", 20,
               pk("exhibition_id"),
               label("name", compose(("Light and", "Faces of", "After the", "Echoes of", "Between"),
                                     ("Water", "Silence", "Storm", "Cities", "Harvest", "Machines",
                                      "Memory"))),
               category("gallery", ("East Wing", "West Wing", "Atrium")),
               date("opening_date", "2019-01-01", "2024-11-30", display="opening date"),
               integer("visitors", 800, 64000, unique=True, display="visitor count")),
        _table("loans", "loan", "loans", 90,
               pk("loan_id"), fk("artwork_id", "artworks"), fk("exhibition_id", "exhibitions"),
               real("loan_fee", 0.0, 9000.0, 0, display="loan fee")),
    )),
    Domain("football", "train", "an amateur football league", (
        _table("teams", "team", "teams", 16,
               pk("team_id"), label("name", place(("Rovers", "United", "Wanderers", "Athletic", "City"))),
               category("division", ("north", "south")),
               integer("founded", 1890, 2015, role="ordinal", display="founding year"),
               integer("stadium_capacity", 1200, 38000, display="stadium capacity", unique=True)),
        _table("players", "player", "players", 220,
               pk("player_id"), label("name", person), fk("team_id", "teams"),
               category("position", POSITIONS, weights=(1, 4, 4, 3)),
               integer("height_cm", 162, 201, display="height in cm"),
               real("weekly_wage", 120.0, 4800.0, unique=True, display="weekly wage"),
               date("birth_date", "1985-01-01", "2006-12-31", display="birth date")),
        _table("goals", "goal", "goals", 280,
               pk("goal_id"), fk("player_id", "players"), integer("minute", 1, 90, role="ordinal"),
               date("match_date", "2024-02-01", "2024-11-30", display="match date"),
               category("body_part", ("left foot", "right foot", "head"), weights=(3, 5, 2),
                        display="body part")),
    )),
    Domain("real_estate", "train", "an estate agency", (
        _table("agents", "agent", "agents", 18,
               pk("agent_id"), label("name", person), category("office", ("central", "lakeside", "hillside")),
               date("hired_on", "2010-01-01", "2024-05-31", display="hire date")),
        _table("properties", "property", "properties", 140,
               pk("property_id"), label("address", lambda rng: f"{rng.randint(1, 240)} {rng.choice(NOUNS)} "
                                                               f"{rng.choice(('Road', 'Lane', 'Street'))}"),
               fk("agent_id", "agents"), category("city", TOWNS[10:17]),
               category("property_type", ("flat", "house", "cottage", "studio"), display="property type"),
               integer("bedrooms", 1, 6, display="number of bedrooms"), real("floor_area", 28.0, 320.0, 1, display="floor area"),
               real("asking_price", 85000.0, 1250000.0, 0, unique=True, display="asking price"),
               date("listed_on", "2023-01-01", "2024-12-31", display="listing date")),
        _table("viewings", "viewing", "viewings", 260,
               pk("viewing_id"), fk("property_id", "properties"),
               date("viewing_date", "2023-02-01", "2024-12-31", display="viewing date"),
               integer("interest_score", 1, 10, role="ordinal", display="interest score")),
    )),
    Domain("gym", "train", "a fitness club", (
        _table("members", "member", "members", 130,
               pk("member_id"), label("name", person),
               category("plan", ("basic", "standard", "premium"), weights=(3, 4, 2)),
               integer("age", 16, 78), date("joined_on", "2018-01-01", "2024-10-31", display="join date")),
        _table("instructors", "instructor", "instructors", 14,
               pk("instructor_id"), label("name", person),
               category("specialty", ("yoga", "spinning", "boxing", "pilates", "strength")),
               real("hourly_rate", 18.0, 65.0, unique=True, display="hourly rate")),
        _table("classes", "class", "classes", 26,
               pk("class_id"), label("title", compose(("Morning", "Lunchtime", "Evening", "Weekend", "Sunrise", "Late"),
                                                       ("Flow", "Burn", "Core", "Power", "Stretch", "Sprint",
                                                        "Balance"))),
               fk("instructor_id", "instructors"), category("room", ("studio A", "studio B", "main hall")),
               integer("capacity", 8, 40), integer("duration_min", 30, 90, display="duration in minutes")),
        _table("bookings", "booking", "bookings", 380,
               pk("booking_id"), fk("member_id", "members"), fk("class_id", "classes"),
               date("booking_date", "2024-01-01", "2024-12-31", display="booking date"),
               category("attended", ("yes", "no"), weights=(4, 1))),
    )),
    Domain("weather", "train", "a network of weather stations", (
        _table("stations", "station", "stations", 24,
               pk("station_id"), label("name", place(("Ridge", "Point", "Field", "Summit", "Marsh"))),
               category("region", ("coastal", "highland", "valley", "plains")),
               integer("elevation_m", 2, 2400, display="elevation in metres", unique=True),
               date("installed_on", "1998-01-01", "2022-12-31", display="installation date")),
        _table("readings", "reading", "readings", 420,
               pk("reading_id"), fk("station_id", "stations"),
               date("reading_date", "2024-01-01", "2024-12-31", display="reading date"),
               real("temperature_c", -12.0, 36.0, 1, display="temperature in celsius"),
               real("rainfall_mm", 0.0, 85.0, 1, display="rainfall in mm"),
               integer("wind_kmh", 0, 110, display="wind speed in km/h")),
    )),
    Domain("conference", "train", "a computing conference programme", (
        _table("tracks", "track", "tracks", 7,
               pk("track_id"), label("name", compose(("Systems", "Theory", "Data", "Security", "Education",
                                                       "Graphics", "Networks", "Languages"))),
               category("day", ("Monday", "Tuesday", "Wednesday"))),
        _table("rooms", "room", "rooms", 9,
               pk("room_id"), label("name", compose(("Aurora", "Borealis", "Cedar", "Delta", "Ember", "Fjord",
                                                      "Granite", "Horizon"), ("Hall", "Room"))),
               category("level", ("ground", "first", "second")), integer("capacity", 30, 900, unique=True)),
        _table("speakers", "speaker", "speakers", 60,
               pk("speaker_id"), label("name", person),
               category("affiliation", ("Northwick University", "Redcliff Institute", "Oakmere Labs",
                                        "Glenrock College", "independent"), weights=(4, 3, 3, 2, 1)),
               category("country", COUNTRIES),
               integer("first_talk_year", 1995, 2024, role="ordinal", display="year of first talk")),
        _table("talks", "talk", "talks", 90,
               pk("talk_id"),
               label("title", compose(("Towards", "Rethinking", "Scaling", "A Study of", "Lessons from", "Beyond"),
                                      ("Fast", "Private", "Verified", "Adaptive", "Sparse", "Robust"),
                                      ("Caches", "Compilers", "Queries", "Graphs", "Protocols", "Classrooms",
                                       "Shaders"))),
               fk("track_id", "tracks"), fk("room_id", "rooms"), fk("speaker_id", "speakers"),
               date("talk_date", "2024-09-09", "2024-09-13", display="talk date"),
               integer("duration_min", 15, 60, display="duration in minutes"),
               real("rating", 1.0, 5.0, 2, role="ordinal", unique=True)),
        _table("attendees", "attendee", "attendees", 150,
               pk("attendee_id"), label("name", person),
               category("ticket_type", ("student", "regular", "day pass"), weights=(2, 4, 1), display="ticket type"),
               date("registered_on", "2024-03-01", "2024-09-08", display="registration date"),
               real("fee_paid", 0.0, 640.0, display="fee paid")),
        _table("registrations", "registration", "registrations", 420,
               pk("registration_id"), fk("attendee_id", "attendees"), fk("talk_id", "talks"),
               integer("seat_row", 1, 30, role="ordinal", display="seat row")),
    )),
    Domain("warehouse", "validation", "a hardware wholesaler", (
        _table("suppliers", "supplier", "suppliers", 22,
               pk("supplier_id"), label("name", compose(("Apex", "Blue Ridge", "Cobalt", "Delta", "Evergreen",
                                                          "Falcon", "Granite", "Harbor"),
                                                         ("Tools", "Supply", "Metals", "Fixings", "Trading"))),
               category("country", COUNTRIES[:6]), real("reliability", 0.5, 1.0, 2, role="ordinal")),
        _table("products", "product", "products", 150,
               pk("product_id"), label("name", compose(("steel", "brass", "copper", "plastic", "oak", "rubber"),
                                                        ("hinge", "bolt", "bracket", "pipe", "valve", "hook",
                                                         "clamp", "washer"),
                                                        ("S", "M", "L", "XL"), sep=" ")),
               fk("supplier_id", "suppliers"),
               category("category", ("plumbing", "fasteners", "fittings", "tools")),
               real("unit_price", 0.2, 89.0, unique=True, display="unit price"),
               integer("stock", 0, 5000, display="stock level")),
        _table("shipments", "shipment", "shipments", 300,
               pk("shipment_id"), fk("product_id", "products"), integer("quantity", 5, 900),
               category("carrier", ("Swiftline", "Northway Freight", "Parcelo")),
               date("shipped_on", "2023-06-01", "2024-12-31", display="shipping date")),
    )),
    Domain("music", "validation", "a music streaming catalogue", (
        _table("artists", "artist", "artists", 30,
               pk("artist_id"), label("name", compose(("The", "Little", "Electric", "Paper", "Neon", "Velvet", "Lost"),
                                                       ("Foxes", "Harbours", "Engines", "Moths", "Satellites",
                                                        "Tigers", "Owls"))),
               category("genre", ("indie", "jazz", "folk", "electronic", "hip hop")),
               integer("formed", 1975, 2021, role="ordinal", display="year formed")),
        _table("albums", "album", "albums", 80,
               pk("album_id"), label("title", title_words), fk("artist_id", "artists"),
               date("release_date", "1990-01-01", "2024-11-30", display="release date"),
               real("price", 4.99, 24.99, unique=True)),
        _table("tracks", "track", "tracks", 400,
               pk("track_id"), label("title", compose(ADJECTIVES, NOUNS, ("Song", "Waltz", "Blues", "Dream",
                                                                          "Anthem", "Lullaby"))),
               fk("album_id", "albums"), integer("duration_sec", 95, 540, display="duration in seconds"),
               integer("plays", 0, 2_500_000, unique=True, display="play count")),
    )),
    Domain("hotel", "test", "a chain of small hotels", (
        _table("hotels", "hotel", "hotels", 12,
               pk("hotel_id"), label("name", place(("Inn", "Lodge", "Grand Hotel", "Guesthouse"))),
               category("city", TOWNS[:6]), integer("stars", 1, 5, role="ordinal", display="star rating")),
        _table("rooms", "room", "rooms", 110,
               pk("room_id"), fk("hotel_id", "hotels"),
               category("room_type", ("single", "double", "suite", "family"), weights=(3, 5, 1, 2),
                        display="room type"),
               integer("floor", 0, 9, role="ordinal"),
               real("nightly_rate", 45.0, 480.0, unique=True, display="nightly rate")),
        _table("guests", "guest", "guests", 160,
               pk("guest_id"), label("name", person), category("country", COUNTRIES),
               date("birth_date", "1945-01-01", "2005-12-31", display="birth date")),
        _table("reservations", "reservation", "reservations", 330,
               pk("reservation_id"), fk("room_id", "rooms"), fk("guest_id", "guests"),
               date("check_in", "2024-01-01", "2024-12-31", display="check-in date"),
               integer("nights", 1, 14, display="number of nights"),
               category("channel", ("phone", "website", "travel agent"), weights=(1, 4, 2))),
    )),
    Domain("farm", "test", "a farming cooperative", (
        _table("farms", "farm", "farms", 26,
               pk("farm_id"), label("name", compose(("Willow", "Stone", "Sunny", "Bramble", "Foxglove", "Heron",
                                                      "Clover", "Misty"),
                                                     ("Acres", "Farm", "Fields", "Croft", "Homestead"))),
               category("region", ("north valley", "south hills", "east plain")),
               real("area_hectares", 4.0, 480.0, 1, unique=True, display="area in hectares")),
        _table("crops", "crop", "crops", 14,
               pk("crop_id"), label("name", compose(("wheat", "barley", "rapeseed", "potato", "sugar beet",
                                                      "oats", "rye", "maize", "sunflower", "flax", "lentil",
                                                      "pea", "onion", "carrot", "cabbage", "leek"))),
               category("season", ("spring", "summer", "autumn")),
               integer("growing_days", 60, 210, display="number of growing days")),
        _table("harvests", "harvest", "harvests", 260,
               pk("harvest_id"), fk("farm_id", "farms"), fk("crop_id", "crops"),
               date("harvest_date", "2021-06-01", "2024-10-31", display="harvest date"),
               real("yield_tonnes", 0.5, 240.0, 1, display="yield in tonnes"),
               real("price_per_tonne", 90.0, 610.0, display="price per tonne")),
    )),
    Domain("online_shop", "test", "an online homeware shop", (
        _table("customers", "customer", "customers", 90,
               pk("customer_id"), label("name", person), category("city", TOWNS[4:12]),
               date("signed_up_on", "2019-01-01", "2024-10-31", display="sign-up date"),
               integer("loyalty_points", 0, 9000, display="loyalty point balance")),
        _table("categories", "category", "categories", 8,
               pk("category_id"), label("name", compose(("Kitchen", "Garden", "Toys", "Bedding", "Sports",
                                                          "Lighting", "Stationery", "Audio", "Bathroom"))),
               category("department", ("home", "leisure", "office"))),
        _table("products", "product", "products", 70,
               pk("product_id"), label("name", compose(("Nordic", "Compact", "Deluxe", "Classic", "Eco", "Studio",
                                                         "Travel", "Family", "Vintage", "Urban", "Cosy", "Bold"),
                                                        ("kettle", "lamp", "blanket", "racket", "notebook",
                                                         "speaker", "planter", "towel", "puzzle", "mug"))),
               fk("category_id", "categories"), real("price", 2.5, 240.0, unique=True),
               integer("weight_g", 40, 6000, display="weight in grams")),
        _table("orders", "order", "orders", 230,
               pk("order_id"), fk("customer_id", "customers"),
               date("order_date", "2023-01-01", "2024-12-31", display="order date"),
               category("status", ("delivered", "shipped", "returned", "cancelled"), weights=(8, 3, 1, 1)),
               real("shipping_fee", 0.0, 19.5, display="shipping fee")),
        _table("order_items", "order item", "order items", 430,
               pk("item_id"), fk("order_id", "orders"), fk("product_id", "products"),
               integer("quantity", 1, 6), integer("discount_pct", 0, 40, role="ordinal",
                                                  display="discount percentage")),
    )),
    Domain("cinema", "train", "an independent cinema", (
        _table("films", "film", "films", 60,
               pk("film_id"), label("title", title_words),
               category("genre", ("drama", "comedy", "thriller", "documentary", "animation")),
               integer("runtime_min", 72, 188, display="runtime in minutes"),
               date("release_date", "2015-01-01", "2024-10-31", display="release date"),
               real("budget_millions", 0.3, 180.0, 1, unique=True, display="budget in millions")),
        _table("screens", "screen", "screens", 6,
               pk("screen_id"), label("name", compose(("Red", "Blue", "Green", "Gold", "Ivory", "Onyx"),
                                                       ("Room",))),
               integer("seats", 40, 320, unique=True, display="number of seats")),
        _table("screenings", "screening", "screenings", 340,
               pk("screening_id"), fk("film_id", "films"), fk("screen_id", "screens"),
               date("screening_date", "2024-03-01", "2024-12-31", display="screening date"),
               integer("tickets_sold", 0, 300, display="number of tickets sold"),
               real("ticket_price", 6.5, 16.0, display="ticket price")),
    )),
]

SPLITS = ("train", "validation", "test")
DOMAINS: dict[str, Domain] = {d.db_id: d for split in SPLITS for d in _DOMAIN_LIST if d.split == split}


def domains_in_split(split: str) -> list[Domain]:
    """The domains whose databases belong to ``split`` (``train``, ``validation`` or ``test``)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {SPLITS}")
    return [d for d in _DOMAIN_LIST if d.split == split]


def generate_rows(table: TableSpec, rng: random.Random, parent_sizes: dict[str, int]) -> list[tuple]:
    """Rows for ``table``: primary keys 1..n, foreign keys into the parents, unique columns kept unique.

    Foreign keys are drawn with uneven weights, and about one parent in eight gets no children, so
    "how many per parent", "the parent with the most" and "parents without any" all have answers.
    """
    fk_weights: dict[str, list[float]] = {}
    for col in table.by_role("fk"):
        n_parents = parent_sizes[col.ref]
        weights = [0.0 if rng.random() < 0.12 else 0.2 + rng.random() ** 2 for _ in range(n_parents)]
        if not any(weights):
            weights[0] = 1.0
        fk_weights[col.name] = weights
    seen: dict[str, set] = {c.name: set() for c in table.columns if c.unique}
    rows = []
    for row_id in range(1, table.n_rows + 1):
        row: list[Any] = []
        for col in table.columns:
            if col.role == "pk":
                value: Any = row_id
            elif col.role == "fk":
                value = rng.choices(range(1, parent_sizes[col.ref] + 1), fk_weights[col.name])[0]
            else:
                value = col.gen(rng)
                if col.unique:
                    for _ in range(200):
                        if value not in seen[col.name]:
                            break
                        value = col.gen(rng)
                    else:
                        raise RuntimeError(f"{table.name}.{col.name}: cannot draw {table.n_rows} unique values")
                    seen[col.name].add(value)
            row.append(value)
        rows.append(tuple(row))
    return rows
