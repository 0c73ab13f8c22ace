"""The trigger-word rule shared by prepare_dataset and start_training.

A trigger word is the token a LoRA learns to bind to the person. It must be rare: a common English word or a
common first name already means something to the base model, so the LoRA fights the model's prior instead of
filling an empty slot.
"""

from __future__ import annotations

import re

from server.errors import UserError

MIN_LENGTH = 3
MAX_LENGTH = 32
MAX_TOKENS = 3

# Words the base model already knows well in portrait prompts (and general high-frequency English).
COMMON_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "with",
        "by",
        "from",
        "as",
        "is",
        "it",
        "this",
        "that",
        "these",
        "those",
        "be",
        "are",
        "was",
        "were",
        "person",
        "people",
        "man",
        "men",
        "woman",
        "women",
        "boy",
        "girl",
        "child",
        "kid",
        "baby",
        "guy",
        "lady",
        "gentleman",
        "human",
        "face",
        "portrait",
        "photo",
        "photograph",
        "picture",
        "image",
        "selfie",
        "headshot",
        "shot",
        "model",
        "subject",
        "style",
        "token",
        "trigger",
        "lora",
        "he",
        "she",
        "him",
        "her",
        "his",
        "hers",
        "they",
        "them",
        "me",
        "you",
        "we",
        "us",
        "i",
        "my",
        "your",
        "our",
        "mom",
        "mum",
        "dad",
        "mother",
        "father",
        "son",
        "daughter",
        "brother",
        "sister",
        "wife",
        "husband",
        "friend",
        "family",
        "cat",
        "dog",
        "car",
        "house",
        "tree",
        "sky",
        "sun",
        "moon",
        "star",
        "love",
        "life",
        "time",
        "day",
        "night",
        "world",
        "home",
        "city",
        "water",
        "fire",
        "red",
        "blue",
        "green",
        "black",
        "white",
        "yellow",
        "pink",
        "purple",
        "orange",
        "brown",
        "gray",
        "grey",
        "gold",
        "silver",
        "big",
        "small",
        "old",
        "young",
        "new",
        "good",
        "bad",
        "beautiful",
        "pretty",
        "handsome",
        "cute",
        "happy",
        "sad",
        "smile",
        "smiling",
        "king",
        "queen",
        "prince",
        "princess",
        "doctor",
        "teacher",
        "actor",
        "actress",
        "artist",
        "player",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "first",
        "last",
        "best",
        "top",
        "hello",
        "test",
        "sample",
        "example",
        "default",
        "none",
        "null",
        "name",
    ]
)

# ~100 frequent first names (US/UK census top lists, both sexes): the model has a prior for each.
COMMON_FIRST_NAMES = frozenset(
    [
        "james",
        "john",
        "robert",
        "michael",
        "william",
        "david",
        "richard",
        "joseph",
        "thomas",
        "charles",
        "christopher",
        "daniel",
        "matthew",
        "anthony",
        "mark",
        "donald",
        "steven",
        "paul",
        "andrew",
        "joshua",
        "kenneth",
        "kevin",
        "brian",
        "george",
        "timothy",
        "ronald",
        "edward",
        "jason",
        "jeffrey",
        "ryan",
        "jacob",
        "gary",
        "nicholas",
        "eric",
        "jonathan",
        "stephen",
        "larry",
        "justin",
        "scott",
        "brandon",
        "benjamin",
        "samuel",
        "gregory",
        "alexander",
        "frank",
        "patrick",
        "raymond",
        "jack",
        "dennis",
        "jerry",
        "tyler",
        "aaron",
        "jose",
        "adam",
        "nathan",
        "henry",
        "peter",
        "zachary",
        "douglas",
        "harry",
        "oliver",
        "noah",
        "liam",
        "lucas",
        "leo",
        "max",
        "sam",
        "tom",
        "ben",
        "alex",
        "mary",
        "patricia",
        "jennifer",
        "linda",
        "elizabeth",
        "barbara",
        "susan",
        "jessica",
        "sarah",
        "karen",
        "lisa",
        "nancy",
        "betty",
        "margaret",
        "sandra",
        "ashley",
        "kimberly",
        "emily",
        "donna",
        "michelle",
        "carol",
        "amanda",
        "dorothy",
        "melissa",
        "deborah",
        "stephanie",
        "rebecca",
        "sharon",
        "laura",
        "cynthia",
        "kathleen",
        "amy",
        "angela",
        "shirley",
        "anna",
        "brenda",
        "pamela",
        "emma",
        "nicole",
        "helen",
        "samantha",
        "katherine",
        "christine",
        "debra",
        "rachel",
        "carolyn",
        "janet",
        "catherine",
        "maria",
        "heather",
        "diane",
        "ruth",
        "julie",
        "olivia",
        "joyce",
        "virginia",
        "victoria",
        "kelly",
        "lauren",
        "christina",
        "joan",
        "evelyn",
        "judith",
        "megan",
        "andrea",
        "cheryl",
        "hannah",
        "jacqueline",
        "martha",
        "gloria",
        "teresa",
        "ann",
        "sara",
        "madison",
        "frances",
        "kathryn",
        "janice",
        "jean",
        "abigail",
        "alice",
        "judy",
        "sophia",
        "grace",
        "denise",
        "amber",
        "doris",
        "marilyn",
        "danielle",
        "beverly",
        "isabella",
        "theresa",
        "diana",
        "natalie",
        "brittany",
        "charlotte",
        "marie",
        "kayla",
        "alexis",
        "lori",
        "ava",
        "mia",
        "sophie",
        "chloe",
    ]
)

_ALLOWED = re.compile(r"^[A-Za-z0-9_\-]+$")


def check_trigger_word(word: str) -> list[str]:
    """Validate a trigger word. Raises UserError if unusable; returns warnings (possibly empty) otherwise.

    Rules: 3-32 characters; letters, digits, '_' or '-'; at least one letter; up to three space-separated
    tokens (a multi-token trigger such as "sks person" is allowed but warned about); not a common English
    word or a common first name (those carry meaning the base model already has).
    """
    if word is None or not word.strip():
        raise UserError("The trigger word is empty. Pick a short, made-up token such as SIDAI or ohwx.")
    text = word.strip()
    if len(text) < MIN_LENGTH:
        raise UserError(
            f"The trigger word {text!r} is too short ({len(text)} characters; at least {MIN_LENGTH}). "
            "Short tokens collide with existing words; use something like SIDAI or ohwx."
        )
    if len(text) > MAX_LENGTH:
        raise UserError(f"The trigger word is {len(text)} characters long; keep it to at most {MAX_LENGTH}.")
    tokens = text.split()
    if len(tokens) > MAX_TOKENS:
        raise UserError(
            f"The trigger word {text!r} has {len(tokens)} words; use one made-up token (at most {MAX_TOKENS} words)."
        )
    for token in tokens:
        if not _ALLOWED.match(token):
            raise UserError(
                f"The trigger word {text!r} contains characters other than letters, digits, '_' and '-'. "
                "Use a plain token such as SIDAI so every trainer and prompt handles it the same way."
            )
    if not re.search(r"[A-Za-z]", text):
        raise UserError(f"The trigger word {text!r} has no letter; use a made-up word such as SIDAI or ohwx.")
    warnings: list[str] = []
    lowered = [token.lower() for token in tokens]
    if len(tokens) == 1:
        _reject_common(text, lowered[0])
        if len(text) == MIN_LENGTH:
            warnings.append(
                f"The trigger word {text!r} is only {MIN_LENGTH} characters; short tokens are more likely to collide "
                "with tokens the model already knows. 4-8 letters (e.g. SIDAI) are safer."
            )
    else:
        if all(token in COMMON_WORDS or token in COMMON_FIRST_NAMES for token in lowered):
            raise UserError(
                f"The trigger word {text!r} is made only of common words; the model already knows them. "
                "Use a made-up token such as SIDAI."
            )
        warnings.append(
            f"The trigger word {text!r} has several words; a single made-up token (e.g. "
            f"{re.sub(r'[^A-Za-z0-9]', '', text).upper()[:12]}) is easier to place in prompts."
        )
    return warnings


def _reject_common(text: str, lowered: str) -> None:
    if lowered in COMMON_WORDS:
        raise UserError(
            f"The trigger word {text!r} is a common English word; the base model already has a meaning for it, so "
            "the LoRA would blur into it. Use a made-up token such as SIDAI or ohwx."
        )
    if lowered in COMMON_FIRST_NAMES:
        raise UserError(
            f"The trigger word {text!r} is a common first name; the model would mix the person with everyone of that "
            "name. Use a made-up token, e.g. the name with letters dropped or doubled (SIDAI, ohwx)."
        )
