"""A small, offline language judge for steered continuations: function words and diacritics.

Short continuations (a few words) are judged by which language's most frequent function words and
letters they contain; a continuation with no evidence is judged ``None`` (never counted a success).
"""

from __future__ import annotations

import re

FUNCTION_WORDS = {
    "en": frozenset("""
        the of and to a in is it that was for on are with as his they be at one have this from or had by
        but not what all were we when your can said there an each which she do how their if will up
        other about out many then them these so some her would make like him into time has look two more
        write go see number no way could people my than first been who its now find long down day did
        get come made may part
    """.split()),  # noqa: SIM905
    "fr": frozenset("""
        le la les de des du un une et est en à au aux pour que qui dans ce cette ces il elle ils elles
        nous vous je tu ne pas plus par sur avec son sa ses leur leurs mais ou où être avoir fait comme
        tout tous très aussi été sont était eau chat maison rouge bleu
    """.split()),  # noqa: SIM905
    "es": frozenset("""
        el la los las de del un una y es en al para que qui con por su sus se no más pero como este esta
        estos estas muy también fue son era ser está agua gato casa rojo azul lo le
    """.split()),  # noqa: SIM905
}
LETTERS = {"fr": set("éèêàùçôîœâë"), "es": set("ñáíóúü¿¡")}


def judge_language(text: str) -> str | None:
    """The language ("en", "fr", "es") with the most evidence in ``text``, or None."""
    words = re.findall(r"[^\W\d_]+", text.lower())
    if not words:
        return None
    score = {lang: sum(w in vocab for w in words) for lang, vocab in FUNCTION_WORDS.items()}
    for lang, letters in LETTERS.items():
        score[lang] += sum(ch in letters for ch in text.lower())
    best = max(score.values())
    winners = [lang for lang, s in score.items() if s == best]
    return winners[0] if best > 0 and len(winners) == 1 else None
