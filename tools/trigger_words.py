"""Trigger-word rules from the setup guide: one unique token the base model does not already know.

A common word (person, man, woman, ...) or a common first name is already full of meaning for FLUX: training
would either fight that meaning or overwrite it, and prompts could not tell the person apart from the word.
"""

from __future__ import annotations

import re

from mcp.server.mcpserver.exceptions import ToolError

MIN_LENGTH = 3
MAX_LENGTH = 32
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")

_COMMON_WORDS_TEXT = """
    person people man men woman women boy girl child kid baby guy lady gentleman human face portrait photo
    picture image selfie model style art artist painting drawing subject character someone somebody self me
    you he she him her they them it this that the and with from for not photograph headshot body hair eyes
    smile dog cat pet animal car house city street light dark red blue green black white gold old young new
    big small good best love life happy beautiful cool man's woman's male female adult teen teenager mother
    father mom dad son daughter brother sister wife husband friend family king queen prince princess doctor
"""

COMMON_WORDS = frozenset(_COMMON_WORDS_TEXT.split())

_COMMON_FIRST_NAMES_TEXT = """
    james john robert michael william david richard joseph thomas charles christopher daniel matthew anthony
    mark donald steven paul andrew joshua kenneth kevin brian george timothy ronald edward jason jeffrey ryan
    jacob gary nicholas eric jonathan stephen larry justin scott brandon benjamin samuel frank gregory
    alexander patrick jack dennis jerry tyler aaron henry adam peter nathan zachary kyle noah ethan liam
    lucas oliver mary patricia jennifer linda elizabeth barbara susan jessica sarah karen lisa nancy betty
    margaret sandra ashley kimberly emily donna michelle carol amanda dorothy melissa deborah stephanie
    rebecca sharon laura cynthia kathleen amy angela anna emma olivia sophia mia isabella ava charlotte
    amelia harper julia maria alex sam max ben tom tim joe bob jim mike dave chris kate sid anne
"""

COMMON_FIRST_NAMES = frozenset(_COMMON_FIRST_NAMES_TEXT.split())


def check_trigger_word(word: str) -> list[str]:
    """Warnings about `word` as a trigger token; raises ToolError (with the reason) when it is unusable."""
    token = word.strip()
    if not token:
        raise ToolError("The trigger word is empty. Pick one unique made-up token, e.g. SIDAI or ohwx_jane.")
    if any(ch.isspace() for ch in token):
        raise ToolError(
            f"Trigger word {token!r} contains spaces. Use one token (letters, digits, '_' or '-'), e.g. "
            f"{_suggest(token)}, so every caption and prompt refers to the person the same way."
        )
    if not _TOKEN.match(token):
        raise ToolError(
            f"Trigger word {token!r} may only contain letters, digits, '_' and '-' (e.g. {_suggest(token)})."
        )
    if not MIN_LENGTH <= len(token) <= MAX_LENGTH:
        raise ToolError(
            f"Trigger word {token!r} is {len(token)} characters; use {MIN_LENGTH}–{MAX_LENGTH}, e.g. {_suggest(token)}."
        )
    if not any(ch.isalpha() for ch in token):
        raise ToolError(f"Trigger word {token!r} has no letters; use a made-up word such as {_suggest(token)}.")
    lowered = token.lower()
    if lowered in COMMON_WORDS:
        raise ToolError(
            f"Trigger word {token!r} is a common word the base model already understands; training would blur the "
            f"person with every '{lowered}' in the prompt. Use a unique made-up token such as {_suggest(token)}."
        )
    if lowered in COMMON_FIRST_NAMES:
        raise ToolError(
            f"Trigger word {token!r} is a common first name: the model already associates it with many faces, so "
            f"the likeness would be diluted. Use a unique token such as {_suggest(token)}."
        )
    warnings = []
    if len(token) == MIN_LENGTH:
        warnings.append(
            f"Trigger word {token!r} is only {MIN_LENGTH} characters; short tokens collide with real words and "
            "abbreviations more often. A 5–10 character made-up token is safer."
        )
    if lowered.isalpha() and lowered.islower() and len(lowered) <= 5 and _vowel_ratio(lowered) > 0.3:
        warnings.append(
            f"Trigger word {token!r} looks like it could be an ordinary word; if it is one, pick a made-up token."
        )
    return warnings


def _vowel_ratio(token: str) -> float:
    return sum(ch in "aeiou" for ch in token) / max(len(token), 1)


def _suggest(token: str) -> str:
    letters = re.sub(r"[^A-Za-z]", "", token).upper()[:6] or "SUBJ"
    return f"{letters}AI" if len(letters) >= 2 else "SUBJAI"
