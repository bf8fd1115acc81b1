"""Seed data of the VAN emulator: deterministic people (names, e-mails, phones, addresses; see van_seed)."""

from __future__ import annotations

from typing import Any

PEOPLE_FIRST_VAN_ID = 100000
DEFAULT_SEED_PEOPLE = 200

# ---------------------------------------------------------------------------------------------
# People
# ---------------------------------------------------------------------------------------------
_FIRST = [
    "James",
    "Maria",
    "Robert",
    "Linda",
    "Michael",
    "Patricia",
    "David",
    "Jennifer",
    "William",
    "Elizabeth",
    "Carlos",
    "Aisha",
    "Thomas",
    "Nguyen",
    "Daniel",
    "Keisha",
    "Matthew",
    "Sofia",
    "Anthony",
    "Priya",
    "Joseph",
    "Fatima",
    "Kevin",
    "Rosa",
    "Brian",
    "Mei",
    "Jamal",
    "Emily",
    "Luis",
    "Hannah",
    "Samuel",
    "Olivia",
    "Omar",
    "Grace",
    "Tyrone",
    "Chloe",
    "Andre",
    "Zoe",
    "Miguel",
    "Renée",
]
_LAST = [
    "Gordon",
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Okafor",
]
_STREETS = [
    "Main St",
    "Oak Ave",
    "Maple Dr",
    "Washington Blvd",
    "Grand Ave",
    "Cherry St",
    "Locust St",
    "Broadway",
    "Park Ave",
    "Lindell Blvd",
    "Troost Ave",
    "Elm St",
]
_CITIES = [
    ("St. Louis", "63104"),
    ("Kansas City", "64105"),
    ("Columbia", "65201"),
    ("Springfield", "65806"),
    ("Jefferson City", "65101"),
    ("Joplin", "64801"),
    ("St. Joseph", "64501"),
    ("Cape Girardeau", "63701"),
]
_AREA_CODES = ["314", "816", "573", "417", "660", "636"]


def person_phone_id(index: int, home: bool = False) -> int:
    """phoneId of the seeded person number ``index`` (cell; ``home=True`` for the home phone)."""
    return 10_000_000 + 2 * index + (1 if home else 0)


def build_person(index: int) -> dict[str, Any]:
    """Seeded person number ``index`` (vanId ``PEOPLE_FIRST_VAN_ID + index``), stored shape."""
    first = _FIRST[index % len(_FIRST)]
    last = _LAST[(index * 7 + index // len(_FIRST)) % len(_LAST)]
    city, zip5 = _CITIES[index % len(_CITIES)]
    area = _AREA_CODES[index % len(_AREA_CODES)]
    line = f"{index % 10000:04d}"
    email_local = f"{first}.{last}{index}".lower().replace(" ", "").replace("é", "e")
    phones = [
        {
            "phoneId": person_phone_id(index),
            "phoneNumber": f"{area}555{line}",
            "phoneType": "C",
            "isPreferred": True,
            "ext": None,
            "dialingPrefix": "1",
            "countryCode": "US",
            "phoneOptInStatus": "I" if index % 4 else "U",
            "isCellStatus": {"statusId": 1, "statusName": "Verified Cell"},
        },
    ]
    if index % 3 == 0:
        phones.append(
            {
                "phoneId": person_phone_id(index, home=True),
                "phoneNumber": f"{area}556{line}",
                "phoneType": "H",
                "isPreferred": False,
                "ext": None,
                "dialingPrefix": "1",
                "countryCode": "US",
                "phoneOptInStatus": "U",
                "isCellStatus": None,
            }
        )
    return {
        "vanId": PEOPLE_FIRST_VAN_ID + index,
        "firstName": first,
        "middleName": None,
        "lastName": last,
        "suffix": None,
        "nickname": None,
        "dateOfBirth": f"{1950 + index % 50:04d}-{1 + index % 12:02d}-{1 + index % 28:02d}T00:00:00Z",
        "sex": None,
        "emails": [
            {
                "email": f"{email_local}@example.org",
                "type": "P",
                "isPreferred": True,
                "isSubscribed": index % 5 != 0,
                "subscriptionStatus": "S" if index % 5 else "N",
            },
        ],
        "phones": phones,
        "addresses": [
            {
                "addressId": 2_000_000 + index,
                "addressLine1": f"{100 + (index * 37) % 9000} {_STREETS[index % len(_STREETS)]}",
                "addressLine2": None,
                "addressLine3": None,
                "city": city,
                "stateOrProvince": "MO",
                "zipOrPostalCode": zip5,
                "countryCode": "US",
                "type": "Home",
                "isPreferred": True,
                "geoLocation": None,
            },
        ],
        "activistCodeIds": [],
        "surveyResponses": {},
    }


def build_people(n: int = DEFAULT_SEED_PEOPLE) -> list[dict[str, Any]]:
    """``n`` deterministic people with vanIds ``PEOPLE_FIRST_VAN_ID ..``."""
    return [build_person(i) for i in range(n)]
