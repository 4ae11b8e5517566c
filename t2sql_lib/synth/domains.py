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

# word lists of the domains added in generator version 2 (invented like the ones above)
HABITATS = ("Savanna", "Rainforest", "Tundra", "Wetland", "Canyon", "Bamboo", "Desert", "Reef", "Highland",
            "Mangrove")
ENCLOSURE_KINDS = ("Yard", "Dome", "Pavilion", "Paddock", "Walkway", "House")
ANIMAL_NAMES = (
    "Biscuit", "Juniper", "Mango", "Pepper", "Sable", "Tamsin", "Nimbus", "Olive", "Rocket", "Saffron", "Tofu",
    "Waffle", "Zephyr", "Kiwi", "Marble", "Pistachio", "Clementine", "Dusty", "Fennel", "Gizmo", "Hazel", "Inky",
    "Jasper", "Lupin", "Moss", "Nutmeg", "Pebble", "Quince", "Rowan", "Sprout", "Thistle", "Umber", "Bramble",
    "Cobalt", "Dandelion", "Ember", "Fig", "Ginger", "Honeydew", "Indigo", "Jojo", "Kumquat", "Lentil", "Miso",
    "Noodle", "Oberon", "Paprika", "Radish", "Sesame", "Truffle", "Velcro", "Wasabi", "Yarrow", "Ziggy", "Acorn",
    "Bongo", "Chutney", "Domino", "Echo", "Flint", "Gumbo", "Hopscotch", "Kipper", "Lollipop",
)
SPECIES = ("red panda", "tapir", "snow leopard", "capybara", "okapi", "flamingo", "meerkat", "binturong", "gibbon",
           "giant tortoise")
PROJECT_NAMES = ("Falcon", "Quartz", "Nimbus", "Juniper", "Orbit", "Tundra", "Pebble", "Vortex", "Lumen", "Sable",
                 "Kestrel", "Marlin")
HANDLE_WORDS = ("swift", "lazy", "brave", "tiny", "cosmic", "rusty", "sleepy", "jolly", "mellow", "fuzzy")
HANDLE_ANIMALS = ("otter", "falcon", "badger", "lynx", "walrus", "gecko", "heron", "yak", "newt", "puffin")
ISSUE_PROBLEMS = ("Crash", "Slowdown", "Typo", "Memory leak", "Timeout", "Broken link", "Wrong total", "Missing icon",
                  "Freeze", "Blank screen", "Duplicate entry", "Encoding error")
ISSUE_AREAS = ("login", "export", "search", "settings", "upload", "sync", "startup", "dashboard", "printing",
               "backup", "notifications", "calendar", "reports", "onboarding")
VESSEL_FIRST = ("Aurora", "Baltic", "Cormorant", "Dauntless", "Endeavour", "Fortuna", "Gannet", "Halcyon", "Ivory",
                "Kittiwake", "Meridian", "Nordic")
VESSEL_SECOND = ("Star", "Spirit", "Pioneer", "Trader", "Queen", "Runner", "Venture", "Crest")
PLAY_NOUNS = ("Ghosts", "Masks", "Letters", "Ashes", "Daughters", "Kings", "Lanterns", "Whispers", "Thieves",
              "Sisters")
PLAY_PLACES = ("Avalon", "the Marsh", "Verona Street", "the North", "Glass", "Sand", "the Orchard", "Saltmarsh")
VOLCANO_NAMES = ("Kelvara", "Ostrum", "Tavros", "Ilenko", "Marabu", "Sornet", "Vashti", "Quillon", "Erebek", "Hollin",
                 "Zantor", "Pyrona", "Calder", "Duvessa", "Fennick", "Gorran", "Haldur", "Istra", "Jovet", "Lamira",
                 "Mornac", "Nerith", "Orvalo", "Tesmar")
BREAD_WORDS = ("rye", "spelt", "sourdough", "seeded", "walnut", "olive", "honey", "potato", "pumpkin", "fig")
BREAD_SHAPES = ("loaf", "roll", "bloomer", "boule", "baguette", "twist", "cob")
CAR_MAKES = ("Vireo", "Kestra", "Montago", "Selva", "Arbor")
PLATE_LETTERS = "ABCDEFGHJKLMNPRSTVWXY"


def plate(rng: random.Random) -> str:
    """A registration plate such as ``KD21 XRT``."""
    letters = "".join(rng.choice(PLATE_LETTERS) for _ in range(5))
    return f"{letters[:2]}{rng.randint(10, 74)} {letters[2:]}"


def handle(rng: random.Random) -> str:
    """A user name such as ``mellowotter42``."""
    return f"{rng.choice(HANDLE_WORDS)}{rng.choice(HANDLE_ANIMALS)}{rng.randint(1, 99)}"


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
    # ---- added in generator version 2: twelve more training schemas, so a model learns to read new ones
    Domain("zoo", "train", "a city zoo", (
        _table("enclosures", "enclosure", "enclosures", 14,
               pk("enclosure_id"), label("name", compose(HABITATS, ENCLOSURE_KINDS)),
               category("zone", ("north loop", "south loop", "lakeside"), weights=(3, 2, 2)),
               real("area_sqm", 120.0, 9000.0, 1, unique=True, display="area in square metres"),
               date("opened_on", "1985-01-01", "2023-12-31", display="opening date")),
        _table("keepers", "keeper", "keepers", 20,
               pk("keeper_id"), label("name", person),
               category("shift", ("early", "late", "night"), weights=(5, 3, 1)),
               integer("certifications", 0, 6, display="number of certifications"),
               date("hired_on", "2004-01-01", "2024-06-30", display="hire date")),
        _table("animals", "animal", "animals", 50,
               pk("animal_id"), label("name", compose(ANIMAL_NAMES)), fk("enclosure_id", "enclosures"),
               category("species", SPECIES), category("sex", ("female", "male")),
               real("weight_kg", 0.8, 310.0, 1, unique=True, display="weight in kg"),
               date("arrived_on", "2006-01-01", "2024-08-31", display="arrival date")),
        _table("feedings", "feeding", "feedings", 380,
               pk("feeding_id"), fk("animal_id", "animals"), fk("keeper_id", "keepers"),
               date("fed_on", "2024-01-01", "2024-12-31", display="feeding date"),
               real("food_kg", 0.2, 45.0, 1, display="food in kg"),
               category("meal", ("breakfast", "lunch", "dinner", "enrichment snack"), weights=(4, 3, 5, 1))),
    )),
    Domain("bike_share", "train", "a city bike-share scheme", (
        _table("docks", "dock", "docks", 18,
               pk("dock_id"), label("name", place(("Square", "Corner", "Gate", "Depot", "Plaza", "Steps", "Crossing"))),
               category("neighbourhood", ("canal side", "market quarter", "university hill", "old mill")),
               integer("slots", 8, 60, unique=True, display="number of slots"),
               date("opened_on", "2016-03-01", "2024-05-31", display="opening date")),
        _table("bikes", "bike", "bikes", 70,
               pk("bike_id"), label("serial_no", code("BK", 1000, 9999), display="serial number"),
               fk("home_dock_id", "docks", display="home dock"),
               category("model", ("classic", "electric", "cargo"), weights=(6, 3, 1)),
               integer("purchase_year", 2016, 2024, role="ordinal", display="purchase year"),
               real("odometer_km", 50.0, 18000.0, 1, unique=True, display="odometer reading in km")),
        _table("riders", "rider", "riders", 110,
               pk("rider_id"), label("name", person),
               category("membership", ("annual", "monthly", "pay as you go"), weights=(3, 4, 2),
                        display="membership type"),
               integer("birth_year", 1950, 2007, role="ordinal", display="birth year"),
               date("joined_on", "2019-01-01", "2024-10-31", display="join date")),
        _table("trips", "trip", "trips", 420,
               pk("trip_id"), fk("bike_id", "bikes"), fk("rider_id", "riders"),
               date("trip_date", "2023-01-01", "2024-12-31", display="trip date"),
               integer("duration_min", 2, 150, display="duration in minutes"),
               real("distance_km", 0.3, 38.0, 1, display="distance in km"),
               real("fare", 0.0, 24.0),
               category("purpose", ("commute", "leisure", "errand"), weights=(5, 3, 2), display="trip purpose")),
    )),
    Domain("theatre", "train", "a repertory theatre company", (
        _table("plays", "play", "plays", 22,
               pk("play_id"), label("title", compose(PLAY_NOUNS, ("of",), PLAY_PLACES)),
               category("genre", ("tragedy", "comedy", "farce", "musical", "history"), weights=(2, 4, 1, 2, 1)),
               integer("running_minutes", 70, 190, display="running time in minutes"),
               real("production_budget", 5000.0, 250000.0, 0, unique=True, display="production budget"),
               date("premiere_date", "2012-01-01", "2024-09-30", display="premiere date")),
        _table("actors", "actor", "actors", 55,
               pk("actor_id"), label("stage_name", person, display="stage name"),
               category("training", ("drama school", "university", "self-taught", "apprenticeship"),
                        weights=(4, 2, 1, 2)),
               integer("debut_year", 1975, 2023, role="ordinal", display="debut year")),
        _table("castings", "casting", "castings", 140,
               pk("casting_id"), fk("play_id", "plays"), fk("actor_id", "actors"),
               category("part", ("lead", "supporting", "ensemble", "understudy"), weights=(2, 4, 5, 1),
                        display="part size"),
               real("weekly_fee", 350.0, 2800.0, display="weekly fee")),
        _table("performances", "performance", "performances", 240,
               pk("performance_id"), fk("play_id", "plays"),
               date("performance_date", "2022-01-01", "2024-12-31", display="performance date"),
               integer("audience", 40, 900, display="audience size"),
               real("box_office", 400.0, 42000.0, display="box office takings"),
               category("slot", ("matinee", "evening"), weights=(1, 3), display="performance slot")),
    )),
    Domain("bug_tracker", "train", "a software team's issue tracker", (
        _table("projects", "project", "projects", 8,
               pk("project_id"), label("name", compose(PROJECT_NAMES)),
               category("language", ("Rust", "Python", "Go", "TypeScript", "Kotlin")),
               integer("lines_of_code", 4000, 900000, unique=True, display="number of lines of code"),
               date("started_on", "2014-01-01", "2023-06-30", display="start date")),
        _table("developers", "developer", "developers", 32,
               pk("dev_id"), label("username", handle, display="user name"),
               category("team", ("backend", "frontend", "infrastructure", "mobile"), weights=(4, 3, 1, 2)),
               integer("commits", 12, 9800, unique=True, display="number of commits"),
               date("joined_on", "2015-01-01", "2024-09-30", display="join date")),
        _table("issues", "issue", "issues", 200,
               pk("issue_id"), label("title", compose(ISSUE_PROBLEMS, ("in", "during", "after"), ISSUE_AREAS)),
               fk("project_id", "projects"), fk("assignee_id", "developers", display="assignee"),
               category("severity", ("low", "medium", "high", "critical"), weights=(4, 5, 2, 1)),
               category("status", ("open", "in review", "closed"), weights=(3, 1, 5)),
               integer("story_points", 1, 13, display="story points"),
               real("hours_logged", 0.5, 60.0, 1, display="hours logged"),
               date("reported_on", "2022-01-01", "2024-12-31", display="report date")),
    )),
    Domain("port", "train", "a container and ferry port", (
        _table("vessels", "vessel", "vessels", 48,
               pk("vessel_id"), label("name", compose(VESSEL_FIRST, VESSEL_SECOND)),
               category("vessel_type", ("container ship", "bulk carrier", "tanker", "ferry", "tug"),
                        weights=(5, 3, 2, 2, 1), display="vessel type"),
               category("flag", COUNTRIES[:8], display="flag state"),
               integer("gross_tonnage", 300, 98000, unique=True, display="gross tonnage"),
               integer("launch_year", 1988, 2023, role="ordinal", display="launch year")),
        _table("berths", "berth", "berths", 12,
               pk("berth_id"), label("berth_code", code("B", 1, 60), display="berth code"),
               category("terminal", ("north quay", "south quay", "east basin")),
               real("depth_m", 7.5, 21.0, 1, unique=True, display="depth in metres"),
               integer("max_length_m", 90, 400, display="maximum length in metres")),
        _table("port_calls", "port call", "port calls", 280,
               pk("call_id"), fk("vessel_id", "vessels"), fk("berth_id", "berths"),
               date("arrival_date", "2023-01-01", "2024-12-31", display="arrival date"),
               integer("hours_docked", 3, 140, display="hours docked"),
               real("harbour_dues", 180.0, 24000.0, display="harbour dues"),
               category("purpose", ("loading", "unloading", "refuelling", "repairs", "crew change"),
                        weights=(5, 5, 2, 1, 1))),
    )),
    Domain("charity", "train", "a charity's fundraising", (
        _table("campaigns", "campaign", "campaigns", 14,
               pk("campaign_id"),
               label("name", compose(("Clean", "Warm", "Safe", "Green", "Bright", "Open", "Quiet"),
                                     ("Water", "Winter", "Shelter", "Schools", "Rivers", "Meals", "Reading"),
                                     ("Appeal", "Fund", "Drive"))),
               category("cause", ("health", "education", "environment", "housing")),
               real("target_amount", 5000.0, 400000.0, 0, unique=True, display="target amount"),
               date("launched_on", "2019-01-01", "2024-06-30", display="launch date")),
        _table("donors", "donor", "donors", 150,
               pk("donor_id"), label("full_name", person, display="full name"),
               category("donor_type", ("individual", "company", "trust"), weights=(8, 2, 1), display="donor type"),
               category("area", ("city centre", "suburbs", "countryside", "abroad"), weights=(4, 5, 3, 1)),
               date("first_gift_on", "2010-01-01", "2024-10-31", display="date of first gift")),
        _table("donations", "donation", "donations", 400,
               pk("donation_id"), fk("donor_id", "donors"), fk("campaign_id", "campaigns"),
               real("amount", 2.0, 5000.0),
               date("donated_on", "2019-01-01", "2024-12-31", display="donation date"),
               category("method", ("card", "bank transfer", "cash", "cheque"), weights=(6, 4, 2, 1),
                        display="payment method")),
    )),
    Domain("research_lab", "train", "a materials research lab", (
        _table("researchers", "researcher", "researchers", 26,
               pk("researcher_id"), label("name", person),
               category("position", ("PhD student", "postdoc", "technician", "group leader"), weights=(5, 3, 2, 1)),
               integer("publications", 0, 140, display="number of publications"),
               date("started_on", "2012-01-01", "2024-09-30", display="start date")),
        _table("instruments", "instrument", "instruments", 11,
               pk("instrument_id"),
               label("name", compose(("spectrometer", "microscope", "centrifuge", "cryostat", "sequencer",
                                      "calorimeter", "diffractometer"), ("A", "B", "C"))),
               category("lab", ("clean lab", "optics lab", "wet lab")),
               real("hourly_cost", 8.0, 240.0, unique=True, display="hourly cost"),
               integer("year_acquired", 2004, 2024, role="ordinal", display="year acquired")),
        _table("experiments", "experiment", "experiments", 240,
               pk("experiment_id"), label("code", code("EXP", 1000, 9999), display="experiment code"),
               fk("lead_id", "researchers", display="lead researcher"), fk("instrument_id", "instruments"),
               date("run_date", "2022-01-01", "2024-12-31", display="run date"),
               real("duration_hours", 0.5, 72.0, 1, display="duration in hours"),
               integer("samples", 1, 96, display="number of samples"),
               category("outcome", ("success", "partial", "failed", "inconclusive"), weights=(5, 3, 2, 1))),
    )),
    Domain("chess_club", "train", "a chess club's tournaments", (
        _table("player", "player", "players", 58,
               pk("player_id"), label("name", person),
               category("title", ("club player", "candidate master", "FIDE master", "international master"),
                        weights=(8, 3, 2, 1)),
               integer("rating", 1100, 2600, role="ordinal", unique=True),
               date("joined_on", "2005-01-01", "2024-08-31", display="join date")),
        _table("tournament", "tournament", "tournaments", 11,
               pk("tournament_id"),
               label("name", compose(("Spring", "Autumn", "Winter", "Summer", "Harvest Moon", "New Year", "Midsummer"),
                                     ("Open", "Rapid", "Blitz", "Classic", "Invitational", "Congress"))),
               category("time_control", ("classical", "rapid", "blitz"), display="time control"),
               integer("rounds", 5, 11, display="number of rounds"),
               real("prize_fund", 200.0, 15000.0, 0, unique=True, display="prize fund"),
               date("start_date", "2019-01-01", "2024-11-30", display="start date")),
        _table("entry", "entry", "entries", 260,
               pk("entry_id"), fk("tournament_id", "tournament"), fk("player_id", "player"),
               integer("wins", 0, 9, display="number of wins"),
               integer("final_place", 1, 60, role="ordinal", display="final place"),
               category("section", ("open", "under 1800", "junior"), weights=(4, 3, 1))),
    )),
    Domain("car_rental", "train", "a car rental firm's fleet", (
        _table("rental_branches", "branch", "branches", 9,
               pk("branch_id"),
               label("branch_name", place(("Central", "Airport", "Station", "Harbourside", "Retail Park")),
                     display="branch name"),
               category("region", ("north", "south", "coast")),
               integer("parking_spaces", 20, 300, unique=True, display="number of parking spaces")),
        _table("fleet_vehicles", "vehicle", "vehicles", 75,
               pk("vehicle_id"), label("registration", plate, display="registration number"),
               fk("branch_id", "rental_branches"), category("make", CAR_MAKES),
               category("fuel", ("petrol", "diesel", "electric", "hybrid"), weights=(4, 2, 3, 2)),
               integer("mileage_km", 1200, 180000, unique=True, display="mileage in km"),
               integer("model_year", 2015, 2024, role="ordinal", display="model year"),
               date("acquired_on", "2016-01-01", "2024-10-31", display="acquisition date")),
        _table("rental_contracts", "rental", "rentals", 330,
               pk("contract_id"), fk("vehicle_id", "fleet_vehicles"),
               date("pickup_date", "2023-01-01", "2024-12-31", display="pickup date"),
               integer("rental_days", 1, 21, display="number of rental days"),
               real("total_charge", 35.0, 2400.0, display="total charge"),
               category("insurance", ("basic", "standard", "full cover"), weights=(3, 4, 2),
                        display="insurance level")),
    )),
    Domain("volcano_watch", "train", "a volcano observatory's monitoring network", (
        _table("volcanoes", "volcano", "volcanoes", 18,
               pk("volcano_id"), label("name", compose(VOLCANO_NAMES)),
               category("volcano_type", ("stratovolcano", "shield", "caldera", "cinder cone"), weights=(5, 2, 2, 1),
                        display="volcano type"),
               category("region", ("north arc", "south arc", "rift zone")),
               integer("summit_m", 600, 5800, unique=True, display="summit height in metres"),
               integer("last_eruption", 1650, 2024, role="ordinal", display="year of last eruption")),
        _table("sensors", "sensor", "sensors", 44,
               pk("sensor_id"), label("sensor_code", code("SN", 100, 999), display="sensor code"),
               fk("volcano_id", "volcanoes"),
               category("sensor_type", ("seismometer", "tiltmeter", "gas sampler", "thermal camera"),
                        weights=(5, 2, 2, 1), display="sensor type"),
               real("vent_distance_km", 0.2, 18.0, 2, display="distance to the vent in km"),
               date("installed_on", "2008-01-01", "2024-03-31", display="installation date")),
        _table("observations", "observation", "observations", 420,
               pk("observation_id"), fk("sensor_id", "sensors"),
               date("observed_on", "2023-01-01", "2024-12-31", display="observation date"),
               integer("tremor_count", 0, 400, display="number of tremors"),
               real("so2_tonnes", 0.0, 3500.0, 1, display="sulphur dioxide in tonnes"),
               category("alert_level", ("green", "yellow", "orange", "red"), weights=(10, 5, 2, 1),
                        display="alert level")),
    )),
    Domain("bakery", "train", "a neighbourhood bakery's production", (
        _table("breads", "bread", "breads", 30,
               pk("bread_id"), label("name", compose(BREAD_WORDS, BREAD_SHAPES)),
               category("dough", ("wheat", "rye", "spelt", "gluten-free"), weights=(6, 3, 2, 1)),
               real("price", 1.2, 9.5, unique=True),
               integer("bake_minutes", 12, 70, display="baking time in minutes"),
               date("first_baked", "2012-01-01", "2024-06-30", display="first baking date")),
        _table("batches", "batch", "batches", 320,
               pk("batch_id"), fk("bread_id", "breads"),
               date("baked_on", "2023-07-01", "2024-12-31", display="baking date"),
               integer("loaves", 12, 240, display="number of loaves"),
               integer("unsold", 0, 30, display="number of unsold loaves"),
               real("oven_temp_c", 180.0, 260.0, 1, role="ordinal", display="oven temperature in celsius"),
               category("shift", ("night", "dawn", "morning"), weights=(3, 4, 2), display="baking shift")),
    )),
    Domain("parks", "train", "a city parks department", (
        _table("parks", "park", "parks", 26,
               pk("id"), label("name", place(("Park", "Common", "Gardens", "Green", "Meadows", "Reserve"))),
               category("park_type", ("playground", "woodland", "formal garden", "sports ground", "wetland"),
                        weights=(3, 2, 1, 3, 1), display="park type"),
               integer("tree_count", 15, 4200, unique=True, display="number of trees"),
               integer("established", 1850, 2020, role="ordinal", display="year established"),
               real("acres", 0.5, 260.0, 1, display="area in acres"),
               date("renovated_on", "1995-01-01", "2024-10-31", display="last renovation date")),
        _table("inspections", "inspection", "inspections", 300,
               pk("id"), fk("park_id", "parks"),
               date("inspected_on", "2022-01-01", "2024-12-31", display="inspection date"),
               integer("litter_score", 1, 10, role="ordinal", display="litter score"),
               real("repair_cost", 0.0, 8500.0, display="repair cost"),
               category("crew", ("north crew", "river crew", "hill crew", "night crew"), weights=(3, 3, 2, 1),
                        display="inspection crew")),
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
